# Seed 001, "veth device".
. "$(dirname "${BASH_SOURCE[0]}")/seed001-1-netns.sh"
ip link add veth0 type veth peer eth0 netns netns1
ip addr show veth0
ip netns exec netns1 ip addr show eth0
ip addr add 10.0.0.1/16 dev veth0
ip link set veth0 up
ip netns exec netns1 ip addr add 10.0.0.2/16 dev eth0
ip netns exec netns1 ip link set eth0 up
# ping -c 3 10.0.0.2; ip netns exec netns1 ping -c 3 10.0.0.1
