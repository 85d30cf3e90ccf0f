// System V message queues: msgget(2), msgsnd(2), msgrcv(2) and msgctl(2).
#include <fmt/format.h>
#include <sys/msg.h>

#include "ipc/ipc.h"
#include "syscalls/handlers.h"
#include "syscalls/util.h"

namespace moat {
namespace {

constexpr int kCapSysResource = 24;
constexpr int kMsgSsz = 16, kMsgSeg = 0xffff;  // MSGSSZ and MSGSEG

Result<std::shared_ptr<MsgQueue>> FindQueue(IpcNamespace& ns, int id) {
  IpcPtr obj = TRY(ns.msg.Find(id));
  return std::static_pointer_cast<MsgQueue>(obj);
}

// The message msgrcv(2) takes for `type` (ipc/msg.c:find_msg).
std::deque<MsgQueue::Message>::iterator FindMessage(MsgQueue& q, long type,
                                                    int flags) {
  auto& m = q.messages;
  if (type == 0) return m.begin();
  if (type > 0) {
    bool except = flags & MSG_EXCEPT;
    return std::find_if(m.begin(), m.end(), [&](auto& msg) {
      return except ? msg.type != type : msg.type == type;
    });
  }
  auto best = m.end();
  for (auto it = m.begin(); it != m.end(); ++it)
    if (it->type <= -type && (best == m.end() || it->type < best->type))
      best = it;
  return best;
}

int64_t MsgInfo(Task& t, IpcNamespace& ns, int cmd, uint64_t buf) {
  struct msginfo info = {};
  info.msgmax = ns.limits.msgmax;
  info.msgmnb = ns.limits.msgmnb;
  info.msgmni = ns.limits.msgmni;
  info.msgssz = kMsgSsz;
  info.msgseg = kMsgSeg;
  if (cmd == MSG_INFO) {
    info.msgpool = ns.msg.objects().size();
    for (auto& [index, obj] : ns.msg.objects()) {
      auto& q = static_cast<MsgQueue&>(*obj);
      info.msgmap += q.messages.size();
      info.msgtql += q.bytes;
    }
  } else {
    info.msgpool = int64_t(ns.limits.msgmni) * ns.limits.msgmnb / 1024;
    info.msgmap = ns.limits.msgmnb;
    info.msgtql = ns.limits.msgmnb;
  }
  if (!t.mm().Write(buf, info).ok()) return -EFAULT;
  return ns.msg.HighestIndex();
}

int64_t MsgStat(Task& t, IpcNamespace& ns, int id, int cmd, uint64_t buf) {
  Result<IpcPtr> obj = cmd == IPC_STAT ? ns.msg.Find(id) : ns.msg.AtIndex(id);
  if (!obj.ok()) return -obj.error();
  auto& q = static_cast<MsgQueue&>(*obj.value());
  if (cmd != MSG_STAT_ANY) {
    Status s = IpcCheckAccess(t, q, 0444);
    if (!s.ok()) return -s.error();
  }
  struct msqid_ds ds = {};
  ds.msg_perm = q.Perm();
  ds.msg_stime = q.stime;
  ds.msg_rtime = q.rtime;
  ds.msg_ctime = q.ctime;
  ds.__msg_cbytes = q.bytes;
  ds.msg_qnum = q.messages.size();
  ds.msg_qbytes = q.max_bytes;
  ds.msg_lspid = q.lspid;
  ds.msg_lrpid = q.lrpid;
  if (!t.mm().Write(buf, ds).ok()) return -EFAULT;
  return cmd == IPC_STAT ? 0 : q.id;
}

int64_t MsgSet(Task& t, IpcNamespace& ns, MsgQueue& q, uint64_t buf) {
  auto ds = t.mm().Read<struct msqid_ds>(buf);
  if (!ds.ok()) return -EFAULT;
  Status s = IpcCheckOwner(t, q);
  if (!s.ok()) return -s.error();
  if (ds->msg_qbytes > uint64_t(ns.limits.msgmnb) &&
      !t.creds.HasCapability(kCapSysResource))
    return -EPERM;
  s = IpcSetPerm(t, q, ds->msg_perm);
  if (!s.ok()) return -s.error();
  q.max_bytes = ds->msg_qbytes;
  // A larger queue may take the messages that wait to be sent.
  q.queue.Notify(kEventOut);
  return 0;
}

}  // namespace

// Implements msgget(2).
int64_t Msgget(Task& t, const SyscallArgs& args) {
  IpcNamespace& ns = Ipc(t);
  auto obj = IpcGet(
      t, ns.msg, key_t(args[0]), args.Int(1),
      [&]() -> Result<IpcPtr> {
        auto q = std::make_shared<MsgQueue>();
        q->max_bytes = ns.limits.msgmnb;
        return IpcPtr(q);
      },
      [](IpcObject&) { return Ok(); });
  if (!obj.ok()) return -obj.error();
  return obj.value()->id;
}

// Implements msgsnd(2).
int64_t Msgsnd(Task& t, const SyscallArgs& args) {
  IpcNamespace& ns = Ipc(t);
  int id = args.Int(0), flags = args.Int(3);
  uint64_t addr = args[1], size = args[2];
  if (int64_t(size) < 0 || size > uint64_t(ns.limits.msgmax) || id < 0)
    return -EINVAL;
  auto type = t.mm().Read<long>(addr);
  if (!type.ok()) return -EFAULT;
  if (type.value() < 1) return -EINVAL;
  std::string text(size, '\0');
  if (!t.mm().CopyIn(addr + sizeof(long), text.data(), size).ok())
    return -EFAULT;

  auto found = FindQueue(ns, id);
  if (!found.ok()) return -found.error();
  std::shared_ptr<MsgQueue> q = found.value();
  Status access = IpcCheckAccess(t, *q, 0222);
  if (!access.ok()) return -access.error();

  // Linux counts each message as one byte too, against msg_qbytes
  // (ipc/msg.c:msg_fits_inqueue).
  while (q->bytes + size > q->max_bytes ||
         q->messages.size() + 1 > q->max_bytes) {
    if (flags & IPC_NOWAIT) return -EAGAIN;
    int64_t r = IpcWait(t, q->queue, std::nullopt);
    if (q->removed) return -EIDRM;
    if (r < 0) return r;
  }

  q->messages.push_back({type.value(), std::move(text)});
  q->bytes += size;
  q->lspid = t.tg().tgid;
  q->stime = time(nullptr);
  q->queue.Notify(kEventIn);
  return 0;
}

// Implements msgrcv(2); MSG_COPY is not supported.
int64_t Msgrcv(Task& t, const SyscallArgs& args) {
  IpcNamespace& ns = Ipc(t);
  int id = args.Int(0), flags = args.Int(4);
  uint64_t addr = args[1], size = args[2];
  long type = long(args[3]);
  if (int64_t(size) < 0 || id < 0) return -EINVAL;
  if (flags & MSG_COPY) return -ENOSYS;

  auto found = FindQueue(ns, id);
  if (!found.ok()) return -found.error();
  std::shared_ptr<MsgQueue> q = found.value();
  Status access = IpcCheckAccess(t, *q, 0444);
  if (!access.ok()) return -access.error();

  for (;;) {
    auto it = FindMessage(*q, type, flags);
    if (it != q->messages.end()) {
      if (it->text.size() > size && !(flags & MSG_NOERROR)) return -E2BIG;
      size_t n = std::min<size_t>(size, it->text.size());
      if (!t.mm().Write<long>(addr, it->type).ok() ||
          !t.mm().CopyOut(addr + sizeof(long), it->text.data(), n).ok())
        return -EFAULT;
      q->bytes -= it->text.size();
      q->messages.erase(it);
      q->lrpid = t.tg().tgid;
      q->rtime = time(nullptr);
      q->queue.Notify(kEventOut);
      return int64_t(n);
    }
    if (flags & IPC_NOWAIT) return -ENOMSG;
    int64_t r = IpcWait(t, q->queue, std::nullopt);
    if (q->removed) return -EIDRM;
    if (r < 0) return r;
  }
}

// Implements msgctl(2).
int64_t Msgctl(Task& t, const SyscallArgs& args) {
  IpcNamespace& ns = Ipc(t);
  int id = args.Int(0), cmd = args.Int(1);
  uint64_t buf = args[2];
  switch (cmd) {
    case IPC_INFO:
    case MSG_INFO:
      return MsgInfo(t, ns, cmd, buf);
    case IPC_STAT:
    case MSG_STAT:
    case MSG_STAT_ANY:
      return MsgStat(t, ns, id, cmd, buf);
    case IPC_SET:
    case IPC_RMID:
      break;
    default:
      return -EINVAL;
  }
  auto q = FindQueue(ns, id);
  if (!q.ok()) return -q.error();
  if (cmd == IPC_SET) return MsgSet(t, ns, *q.value(), buf);
  Status s = IpcCheckOwner(t, *q.value());
  if (!s.ok()) return -s.error();
  ns.msg.Remove(*q.value());
  q.value()->queue.Notify(kEventIn | kEventOut);
  return 0;
}

std::string FormatSysvMsg(IpcNamespace& ns) {
  std::string out =
      "       key      msqid perms      cbytes       qnum lspid lrpid   uid"
      "   gid  cuid  cgid      stime      rtime      ctime\n";
  for (auto& [index, obj] : ns.msg.objects()) {
    auto& q = static_cast<MsgQueue&>(*obj);
    out += fmt::format(
        "{:>10} {:>10}  {:>4o}  {:>10} {:>10} {:>5} {:>5} {:>5} {:>5} {:>5} "
        "{:>5} {:>10} {:>10} {:>10}\n",
        q.key, q.id, q.mode, q.bytes, q.messages.size(), q.lspid, q.lrpid,
        q.uid, q.gid, q.cuid, q.cgid, q.stime, q.rtime, q.ctime);
  }
  return out;
}

}  // namespace moat
