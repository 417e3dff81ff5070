# Seed 004, "Виртуальный сетевой интерфейс": a veth whose peer goes into
# the namespace of a process, named by its pid: a process in netns1.
. "$(dirname "${BASH_SOURCE[0]}")/seed004-1-netns.sh"
ip netns exec netns1 sleep infinity &
pid=$!
in_netns netns1 $pid
ip link add name veth0 type veth peer name veth1 netns $pid
