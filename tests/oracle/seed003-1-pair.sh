# Seed 003 (namespaces in operation), "Connecting a pair of namespaces".
ip netns add netnstest
ls /var/run/netns
nsenter --net=/var/run/netns/netnstest ip link
ip link add veth0 type veth peer name ceth0
ip link | tail -n 4
ip link set ceth0 netns netnstest
ip link
ip link set veth0 up
ip addr add 172.12.0.11/24 dev veth0
# inside netnstest (the tutorial's nsenter shell)
nsenter --net=/var/run/netns/netnstest ip link
nsenter --net=/var/run/netns/netnstest ip link set lo up
nsenter --net=/var/run/netns/netnstest ip link set ceth0 up
nsenter --net=/var/run/netns/netnstest ip addr add 172.12.0.12/24 dev ceth0
# ping 172.12.0.12; (in netnstest) ping 172.12.0.11
