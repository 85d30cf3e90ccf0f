// /sys: moat's own, built from the kernel's view of the machine. The host's
// sysfs describes host devices and is never shown; this one has Linux's
// top-level layout and the CPU files that programs read to size
// themselves.
#include <fmt/format.h>

#include "fs/proc.h"
#include "fs/proc_internal.h"
#include "util/host_info.h"

namespace moat {
namespace {

constexpr uint32_t kSysfsMagic = 0x62656572;  // SYSFS_MAGIC

std::string CpuRange(int count) {
  return count > 1 ? fmt::format("0-{}\n", count - 1) : "0\n";
}

void AddCpuFiles(proc::ProcDir& system) {
  auto cpu = system.Subdir("cpu");
  int count = SandboxCpuCount();
  for (const char* name : {"online", "possible", "present"})
    cpu->AddFile(name, proc::Text(CpuRange(count)));
  cpu->AddFile("offline", proc::Text("\n"));
  cpu->AddFile("kernel_max", proc::Text("8191\n"));
  for (int i = 0; i < count; i++) {
    auto one = cpu->Subdir(fmt::format("cpu{}", i));
    one->AddFile("online", proc::Text("1\n"));
  }
}

}  // namespace

InodePtr NewSysFs(Kernel& kernel) {
  auto fs = std::make_shared<proc::ProcFs>(kernel);
  fs->fstype = "sysfs";
  fs->magic = kSysfsMagic;
  auto root = std::make_shared<proc::ProcDir>(fs, 0555);
  for (const char* name : {"block", "bus", "class", "dev", "devices",
                           "firmware", "fs", "kernel", "module", "power"})
    root->Add(name, std::make_shared<proc::ProcDir>(fs, 0755));
  auto devices = root->Subdir("devices");
  AddCpuFiles(*devices->Subdir("system"));
  root->Subdir("fs")->Subdir("cgroup");
  return root;
}

}  // namespace moat
