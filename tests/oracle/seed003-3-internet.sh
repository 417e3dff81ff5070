# Seed 003, "Reaching the outside world". The tutorial's machine forwards
# already (its iptables show Docker's chains: Docker turns ip_forward on):
# the internet stand-in turns it on, as part of that machine.
. "$(dirname "${BASH_SOURCE[0]}")/seed003-2-lan.sh"
. "$(dirname "${BASH_SOURCE[0]}")/internet-standin.sh"
sysctl -w net.ipv4.ip_forward=1
# ip netns exec netns_1 ping 8.8.8.8 (Network is unreachable)
ip netns exec netns_1 ip route
# ip -all netns exec ip route add default via 192.168.1.11, in the lab's namespaces
ip netns exec netns_1 ip route add default via 192.168.1.11
ip netns exec netns_0 ip route add default via 192.168.1.11
ip netns exec netns_1 ip route
ip netns exec netns_0 ip route
# ip netns exec netns_0 ping 8.8.8.8 (no answer)
iptables -t nat -A POSTROUTING -s 192.168.1.0/24 -j MASQUERADE
# ip netns exec netns_0 ping 8.8.8.8
