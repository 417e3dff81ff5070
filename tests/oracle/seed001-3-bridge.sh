# Seed 001, "Bridge network" (a new lab: it adds netns1 again).
ip netns add netns1
ip netns add netns2
ip netns exec netns1 ip link set lo up
ip netns exec netns2 ip link set lo up
ip link add veth1 type veth peer eth0 netns netns1
ip link add veth2 type veth peer eth0 netns netns2
ip link add name br0 type bridge
ip link set dev veth1 master br0
ip link set dev veth2 master br0
ip addr add 10.0.0.1/16 dev br0
ip link set dev br0 up
ip link set dev veth1 up
ip link set dev veth2 up
ip netns exec netns1 ip addr add 10.0.0.2/16 dev eth0
ip netns exec netns1 ip link set dev eth0 up
ip netns exec netns2 ip addr add 10.0.0.3/16 dev eth0
ip netns exec netns2 ip link set dev eth0 up
# ip netns exec netns1 ping -c 3 10.0.0.3; ip netns exec netns2 ping -c 3 10.0.0.2
