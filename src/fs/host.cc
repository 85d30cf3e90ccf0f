#include "fs/host.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/vfs.h>
#include <unistd.h>

namespace moat {

InodeAttr AttrFromStat(const struct stat& st) {
  InodeAttr a;
  a.dev = st.st_dev;
  a.ino = st.st_ino;
  a.mode = st.st_mode;
  a.nlink = st.st_nlink;
  a.uid = st.st_uid;
  a.gid = st.st_gid;
  a.rdev = st.st_rdev;
  a.size = st.st_size;
  a.blksize = st.st_blksize;
  a.blocks = st.st_blocks;
  a.atime = st.st_atim;
  a.mtime = st.st_mtim;
  a.ctime = st.st_ctim;
  a.btime = st.st_ctim;
  return a;
}

Result<InodeAttr> HostInode::Attr() {
  struct stat st;
  if (lstat(path_.c_str(), &st) != 0) return Err(errno);
  return AttrFromStat(st);
}

Result<InodePtr> HostInode::Lookup(const std::string& name) {
  std::string child = path_ == "/" ? "/" + name : path_ + "/" + name;
  struct stat st;
  if (lstat(child.c_str(), &st) != 0) return Err(errno);
  return InodePtr(std::make_shared<HostInode>(child));
}

Result<std::vector<DirEntry>> HostInode::ReadDir() {
  DIR* dir = opendir(path_.c_str());
  if (dir == nullptr) return Err(errno);
  std::vector<DirEntry> out;
  while (struct dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    out.push_back(DirEntry{name, e->d_ino, e->d_type});
  }
  closedir(dir);
  return out;
}

Result<std::string> HostInode::Readlink() {
  char buf[4096];
  ssize_t n = readlink(path_.c_str(), buf, sizeof(buf));
  if (n < 0) return Err(errno);
  return std::string(buf, n);
}

Result<FilePtr> HostInode::Open(int flags) {
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
    return Err(EROFS);
  auto attr = TRY(Attr());
  if (S_ISLNK(attr.mode)) return Err(ELOOP);
  if (S_ISDIR(attr.mode)) {
    auto f = std::make_shared<FileDescription>();
    f->inode = shared_from_this();
    return FilePtr(f);
  }
  // Only regular files are opened on the host; devices, fifos and sockets
  // found in the host tree are not reachable from the sandbox.
  if (!S_ISREG(attr.mode)) return Err(EACCES);
  int fd = open(path_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Err(errno);
  auto f = std::make_shared<HostFile>(fd, attr);
  f->inode = shared_from_this();
  return FilePtr(f);
}

Result<struct statfs> HostInode::StatFs() {
  struct statfs s;
  if (statfs(path_.c_str(), &s) != 0) return Err(errno);
  return s;
}

Result<std::shared_ptr<MemoryObject>> HostInode::Mappable() {
  auto attr = TRY(Attr());
  if (!S_ISREG(attr.mode)) return Err(ENODEV);
  int fd = open(path_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Err(errno);
  auto obj = HostFileObject::Get(fd, attr.dev, attr.ino, attr.size);
  close(fd);
  return obj;
}

HostFile::~HostFile() { close(fd_); }

Result<size_t> HostFile::PRead(Task&, void* buf, size_t len, uint64_t off) {
  ssize_t n;
  do {
    n = pread(fd_, buf, len, off);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Err(errno);
  return size_t(n);
}

Result<size_t> HostFile::PWrite(Task&, const void*, size_t, uint64_t) {
  return Err(EBADF);
}

Result<std::shared_ptr<MemoryObject>> HostFile::Mappable() {
  return HostFileObject::Get(fd_, attr_.dev, attr_.ino, attr_.size);
}

}  // namespace moat
