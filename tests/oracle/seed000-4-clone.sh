# Seed 000, "Create namespace through clone()": the network part of the C
# program. The child cloned with CLONE_NEWNET is a process in namespace
# "child" (the container part is another lab's); the parent's and the
# child's system() calls in the program's order.
ip netns add child
ip netns exec child sleep infinity &
pid=$!
in_netns child $pid
# parent
ip link add veth0 type veth peer name veth1
ip link set veth1 netns $pid
ip link set veth0 up
ip addr add 192.168.0.1/24 dev veth0
# child
ip netns exec child ip link set lo up
ip netns exec child ip link set veth1 up
ip netns exec child ip addr add 192.168.0.2/24 dev veth1
# "Relationship between container and veth pair", method 1
ip netns exec child cat /sys/class/net/veth1/iflink
