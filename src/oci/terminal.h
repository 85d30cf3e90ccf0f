// Terminals for containers: a host pty whose master goes to the engine
// over --console-socket, as runc sends it.
#pragma once

#include <string>

namespace moat::oci {

// Opens a host pty, sets its size when rows and cols are given, and sends
// the master over the unix stream socket at `socket_path`. Returns "" and
// the slave in `slave`, or an error.
std::string SendConsole(const std::string& socket_path, unsigned rows,
                        unsigned cols, int* slave);

}  // namespace moat::oci
