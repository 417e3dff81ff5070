# Seed 001, "Internet access".
. "$(dirname "${BASH_SOURCE[0]}")/seed001-3-bridge.sh"
. "$(dirname "${BASH_SOURCE[0]}")/internet-standin.sh"
ip netns exec netns1 ip route add default via 10.0.0.1
ip netns exec netns2 ip route add default via 10.0.0.1
sysctl -w net.ipv4.ip_forward=1
iptables -t nat -A POSTROUTING -s 10.0.0.0/16 -j MASQUERADE
# ip netns exec netns1 ping -c 3 8.8.8.8 (198.51.100.8)
