# ls -la / : the host root as moat shows it. Timestamps are masked by mask.sed.
# /proc, /dev and /tmp are the sandbox's own mounts. Their link counts and
# sizes count host-only contents (host processes, host devices, other users'
# temporary files), so they are masked, and so is the "total" line that adds
# up their sizes. Their type, mode and owner stay checked.
# mask: s/^(d[rwxt-]{9}) +[0-9]+ (root +root) +[0-9]+ (<DATE> (proc|dev|tmp))$/\1 <N> \2 <SIZE> \3/
# mask: s/^total [0-9]+$/total <N>/
# ls pads each column to its widest value, which can be a masked one, so
# runs of spaces are squeezed too.
# mask: s/ +/ /g
set -eu
ls -la /
