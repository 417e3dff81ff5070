# Seed 003, "Connecting multiple namespaces (creating a LAN)" ("all
# previous configurations were deleted": a new lab).
ip netns add netns_0
ip netns add netns_1
ip link add veth0 type veth peer name ceth0
ip link add veth1 type veth peer name ceth1
ip link set veth1 up
ip link set veth0 up
ip link set ceth0 netns netns_0
ip link set ceth1 netns netns_1
ip netns exec netns_0 ip link set lo up
ip netns exec netns_0 ip link set ceth0 up
ip netns exec netns_0 ip addr add 192.168.1.20/24 dev ceth0
ip netns exec netns_1 ip link set lo up
ip netns exec netns_1 ip link set ceth1 up
ip netns exec netns_1 ip addr add 192.168.1.21/24 dev ceth1
ip link add name br0 type bridge
ip addr add 192.168.1.11/24 brd + dev br0
ip link set br0 up
ip link set veth0 master br0
ip link set veth1 master br0
iptables -A FORWARD -i br0 -j ACCEPT
# ip netns exec netns_1 ping 192.168.1.20; ping 192.168.1.20; ip netns exec netns_0 ping 192.168.1.21
