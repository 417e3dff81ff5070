# Seed 004, "Пример", in netns1 of "Создание неймспейсов". `modprobe dummy`
# makes dummy0 in the machine's first namespace; in the stand-in host, ip
# link add makes it. Where the kernel has no dummy driver, one end of a
# veth pair stands in for it, as in the nsh script.
. "$(dirname "${BASH_SOURCE[0]}")/seed004-1-netns.sh"
if ip link add dummy0 type dummy 2>/dev/null; then
	:
else
	# dummy stand-in
	ip link add dummy0 type veth peer name dummy0-peer
fi
ip addr add 192.168.100.199/24 brd + dev dummy0
ip link set dev dummy0 up
ifconfig | grep dummy
ip link set dummy0 netns netns1
ifconfig | grep dummy || true
ip netns exec netns1 ifconfig
mkdir -p /etc/netns/netns1
echo '192.168.100.199 dummy.com' > /etc/netns/netns1/hosts
# ip netns exec netns1 ping dummy.com
