# Seed 000, "Configuration", after the overview (which deleted netns1).
. "$(dirname "${BASH_SOURCE[0]}")/seed000-1-netns.sh"
ip netns add netns1
# "After setting the lo up, you can ping 127.0.0.1."
ip netns exec netns1 ip link set lo up
# ip netns exec netns1 ping 127.0.0.1
ip link add veth0 type veth peer name veth1
ip link set veth1 netns netns1
ip netns exec netns1 ifconfig veth1 10.1.1.1/24 up
# The tutorial's "ifconfig veth0 10.1.1.2/up" is a typo: the pair is 10.1.1.0/24.
ifconfig veth0 10.1.1.2/24 up
# ping 10.1.1.1
