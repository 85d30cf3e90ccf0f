// Confining the gofer: what `moat gofer` does to itself before it serves a
// request, so that a bug in it, driven by a hostile kernel, still reaches
// nothing but the roots it serves.
#pragma once

#include <vector>

#include "gofer/server.h"
#include "util/result.h"

namespace moat::gofer {

// Namespaces Start creates the gofer in: new mount, pid, network, ipc and
// uts namespaces when it runs as host root, none otherwise (an
// unprivileged gofer has no capability to confine itself with and relies
// on Landlock).
int NamespaceFlags();

// Makes a new root holding only copies of `roots`, at /0, /1 and so on, and
// a /proc of the gofer's own pid namespace, pivots into it and rewrites
// each root's path to its copy. For a gofer that Start created with
// NamespaceFlags() as host root.
Status EnterServedRoots(std::vector<Root>& roots);

// Sets no_new_privs and, where the host has Landlock, allows opening files
// only beneath `roots`, for reading or, in a writable root, writing too.
// The gofer's TCP sockets, abstract unix sockets and signals are refused
// where the host's Landlock covers them.
Status RestrictToRoots(const std::vector<Root>& roots);

// Drops every capability but those that let root serve files of any owner
// (chown, DAC override and read-search, fowner, fsetid).
Status DropGoferCapabilities();

// Installs the gofer's seccomp allow-list. A call outside it stops the
// gofer with a message naming the call; with `audit` it fails with ENOSYS
// and is logged instead.
Status InstallGoferFilter(bool audit);

}  // namespace moat::gofer
