# Seed 002, "Section 04", the server in earth and the DNAT rules. The
# host's address 192.168.0.108 is the stand-in uplink's 203.0.113.1.
. "$(dirname "${BASH_SOURCE[0]}")/seed002-4-internet.sh"
ip netns exec earth python3 -m http.server --bind 10.10.0.10 8000 > /dev/null 2>&1 &
until ip netns exec earth ss -Hltn | grep -q 10.10.0.10:8000; do sleep 0.05; done
# telnet 10.10.0.10 8000; curl 10.10.0.10:8000
iptables --table nat -A PREROUTING -d 203.0.113.1 -p tcp -m tcp --dport 8000 -j DNAT --to-destination 10.10.0.10:8000
iptables --table nat -A PREROUTING -d 203.0.113.1 -p tcp -m tcp --dport 3000 -j DNAT --to-destination 10.10.0.10:8000
# http://203.0.113.1:8000/ and :3000 from the internet
