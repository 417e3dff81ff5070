# The iproute2 and iptables commands of tests/oracle/audit/builtins.star,
# as docs/builtins gives them.
ip netns add a
ip -n a link set lo up
ip link add m0 type veth peer name m1
ip link add mv0 link m0 type macvlan mode bridge
ip link add mv1 link m0 type macvlan mode private
ip link set m0 mtu 1400
ip link set m0 address 02:00:00:00:00:01
ip link add br1 type bridge
ip link set m1 master br1
ip link set m1 nomaster
ip link set br1 up
ip link set br1 down
ip addr add 10.5.0.1/24 dev m0
ip addr add 10.5.1.1/24 brd 10.5.1.200 dev m0
ip addr add 2001:db8::1/64 dev m0 nodad
ip link set m0 up
ip route add 10.7.0.0/16 via 10.5.0.254 metric 7
ip route add 10.8.0.0/16 dev m0
ip netns exec a sysctl -w net.ipv4.ip_forward=1
ip netns exec a sysctl -w net.ipv4.ip_forward=1
iptables -t nat -A POSTROUTING -s 10.5.0.0/24 -o m0 -j MASQUERADE
ip netns exec a iptables -t nat -A POSTROUTING -s 10.5.1.0/24 ! -o m0 -j MASQUERADE
iptables -t nat -A PREROUTING -d 10.5.0.1 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.5.1.2:8080
iptables -t nat -A OUTPUT -d 10.5.0.1 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.5.1.2:8080
iptables -t nat -A PREROUTING -p udp -m udp --dport 53 -j DNAT --to-destination 10.5.1.2:5353
iptables -A FORWARD -i br1 -j ACCEPT
ip link add d0 type veth peer name d1 netns a
ip link set d0 netns a name e0
ip -n a link add b0 type veth peer name b1
ip -n a link set b0 netns $$
