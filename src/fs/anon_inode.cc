#include "fs/anon_inode.h"

#include "fs/tmpfs.h"

namespace moat {
namespace {

class AnonInode : public Inode {
 public:
  explicit AnonInode(uint32_t mode) {
    static uint64_t dev = NewAnonDev();
    attr_.dev = dev;
    attr_.ino = NewIno();
    attr_.mode = mode;
    attr_.atime = attr_.mtime = attr_.ctime = Now();
  }
  Result<InodeAttr> Attr() override { return attr_; }
  Result<struct statfs> StatFs() override {
    // Sockets live on sockfs, the rest on anon_inodefs.
    return SimpleStatFs(S_ISSOCK(attr_.mode) ? 0x534F434B : 0x09041934);
  }

 private:
  InodeAttr attr_;
};

}  // namespace

InodePtr NewAnonInode(uint32_t mode) {
  return std::make_shared<AnonInode>(mode);
}

}  // namespace moat
