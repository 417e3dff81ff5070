# Seed 000, "Create and Manage the Linux Bridge".
ip link add name br0 type bridge
ip link set br0 up
