# Masks applied to every case's combined output, natively and under moat,
# before the two are compared (sed -E). Only three kinds of value are masked,
# because only these legitimately differ between a host run and a sandbox run:
#
#   pids      A pid is masked only where a tag names it: "pid=123", "ppid: 7",
#             also pgid, sid, tid, tgid. A case that needs to show a pid prints
#             it this way, and a bare number is never treated as a pid.
#   times     ls -l timestamps ("Dec  4 16:53", "May 20  2025") that follow a
#             number (the size column); the timestamp lines of stat(1)'s
#             default output; values tagged "time=", "atime=", "mtime=",
#             "ctime=", "btime=", "elapsed=". Other dates stay unmasked so
#             that cases can check date formatting of fixed dates.
#   inodes    Values tagged "ino=", "inode=", "Inode: " (stat(1)).
#
# Cases can add masks of their own in their header (see run), only for
# host-only contents of the mounts the sandbox replaces.

s/\<(pid|ppid|pgid|sid|tid|tgid)([=:] ?)[0-9]+/\1\2<PID>/g
s/([0-9] )(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 0-9][0-9] ( [0-9]{4}|[0-9]{2}:[0-9]{2}) /\1<DATE> /
s/^( *(Access|Modify|Change|Birth): )[0-9].*$/\1<TIME>/
s/\<(time|atime|mtime|ctime|btime|elapsed)=[0-9][0-9.:TZ+-]*/\1=<TIME>/g
s/\<(ino|inode|Inode)([=:] ?)[0-9]+/\1\2<INO>/g
