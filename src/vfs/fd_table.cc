#include "vfs/fd_table.h"

namespace moat {

Result<int> FdTable::Add(FilePtr file, bool cloexec, int min_fd,
                         uint64_t limit) {
  int fd = min_fd;
  for (auto it = fds_.lower_bound(min_fd); it != fds_.end() && it->first == fd;
       ++it)
    fd++;
  if (uint64_t(fd) >= limit) return Err(EMFILE);
  fds_[fd] = Entry{std::move(file), cloexec};
  return fd;
}

Status FdTable::Set(int fd, FilePtr file, bool cloexec, uint64_t limit) {
  if (fd < 0 || uint64_t(fd) >= limit) return Err(EBADF);
  fds_[fd] = Entry{std::move(file), cloexec};
  return Ok();
}

FilePtr FdTable::Get(int fd) const {
  auto it = fds_.find(fd);
  return it == fds_.end() ? nullptr : it->second.file;
}

FdTable::Entry* FdTable::GetEntry(int fd) {
  auto it = fds_.find(fd);
  return it == fds_.end() ? nullptr : &it->second;
}

Status FdTable::Remove(int fd) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return Err(EBADF);
  fds_.erase(it);
  return Ok();
}

void FdTable::RemoveRange(int first, int last, bool only_cloexec_flag) {
  for (auto it = fds_.lower_bound(first);
       it != fds_.end() && unsigned(it->first) <= unsigned(last);) {
    if (only_cloexec_flag) {
      it->second.cloexec = true;
      ++it;
    } else {
      it = fds_.erase(it);
    }
  }
}

void FdTable::CloseOnExec() {
  for (auto it = fds_.begin(); it != fds_.end();) {
    if (it->second.cloexec)
      it = fds_.erase(it);
    else
      ++it;
  }
}

std::shared_ptr<FdTable> FdTable::Clone() const {
  auto t = std::make_shared<FdTable>();
  t->fds_ = fds_;
  return t;
}

}  // namespace moat
