// FdTable: a process's file descriptors (shared by CLONE_FILES).
#pragma once

#include <map>
#include <memory>

#include "vfs/inode.h"

namespace moat {

class FdTable {
 public:
  struct Entry {
    FilePtr file;
    bool cloexec = false;
  };

  // Installs `file` at the lowest free descriptor >= `min_fd`. EMFILE when
  // that would reach `limit` (RLIMIT_NOFILE).
  Result<int> Add(FilePtr file, bool cloexec, int min_fd, uint64_t limit);
  // Installs `file` at `fd`, closing what was there (dup2).
  Status Set(int fd, FilePtr file, bool cloexec, uint64_t limit);
  FilePtr Get(int fd) const;
  Entry* GetEntry(int fd);
  // Closes `fd`; EBADF when it is not open.
  Status Remove(int fd);
  void RemoveRange(int first, int last, bool only_cloexec_flag);
  void CloseOnExec();
  std::shared_ptr<FdTable> Clone() const;
  const std::map<int, Entry>& entries() const { return fds_; }
  size_t size() const { return fds_.size(); }

 private:
  std::map<int, Entry> fds_;
};

}  // namespace moat
