// Sending and delivering signals, and the other kernel services that task
// exit and the syscall layer share.
#pragma once

#include <signal.h>

#include <string>

#include "kernel/task.h"

namespace moat {

// Delivers every deliverable pending signal: runs default actions and sets
// up handler frames. Returns false when the task must stop running.
bool DeliverPendingSignals(Task& t);

// Raises a synchronous signal caused by the task's own instruction (a
// fault): if the program blocks or ignores it, the default action runs.
void ForceSignal(Task& t, siginfo_t info);

// Sends `info` to a thread group (kill) or one task (tgkill). `from_inside`
// marks a signal sent by a process of the sandbox, which init does not
// receive unless it installed a handler.
Status SendGroupSignal(ThreadGroup& tg, const siginfo_t& info,
                       bool from_inside);
Status SendTaskSignal(Task& t, const siginfo_t& info, bool from_inside);

// rt_sigreturn: restores the context saved in the frame on the stack.
int64_t SignalReturn(Task& t);

// Notifies the parent of a child's stop, continue or exit.
void NotifyParent(ThreadGroup& child, int code, int status);

// Futex services used at task exit.
int FutexWakeAddress(Task& t, uint64_t addr, int count);
void ExitRobustList(Task& t);

// Writes an strace line for one call.
struct SyscallArgs;
void TraceSyscall(Task& t, int64_t nr, const SyscallArgs& args, int64_t ret,
                  const std::string& call = "");
// Returns a call as --strace prints it, such as `open("/etc", 0)`.
std::string FormatSyscall(Task& t, int64_t nr, const SyscallArgs& args);

siginfo_t MakeSigInfo(int sig, int code, int pid = 0, uint32_t uid = 0);

}  // namespace moat
