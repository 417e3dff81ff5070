# Seed 000, "Note": moving veth1 back to the namespace of PID 1, the host's.
. "$(dirname "${BASH_SOURCE[0]}")/seed000-2-veth.sh"
# In the stand-in host, the host's first process is this shell.
ip net exec netns1 ip link set veth1 netns $$
