// /proc/cpuinfo from the CPUID instruction, which the application could
// run itself, in the layout of Linux arch/x86/kernel/cpu/proc.c.
#include <cpuid.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstring>

#include "fs/proc_internal.h"
#include "util/host_info.h"

namespace moat::proc {
namespace {

struct Regs {
  uint32_t a = 0, b = 0, c = 0, d = 0;
};

Regs Cpuid(uint32_t leaf, uint32_t sub = 0) {
  Regs r;
  if (!__get_cpuid_count(leaf, sub, &r.a, &r.b, &r.c, &r.d)) return {};
  return r;
}

// One cpuinfo flag: CPUID leaf, subleaf, register (0..3 = a..d), bit.
struct Flag {
  uint32_t leaf;
  uint32_t sub;
  int reg;
  int bit;
  const char* name;
};

// In the order of Linux's cpufeature words, so the line reads as usual.
constexpr Flag kFlags[] = {{1, 0, 3, 0, "fpu"},
                           {1, 0, 3, 1, "vme"},
                           {1, 0, 3, 2, "de"},
                           {1, 0, 3, 3, "pse"},
                           {1, 0, 3, 4, "tsc"},
                           {1, 0, 3, 5, "msr"},
                           {1, 0, 3, 6, "pae"},
                           {1, 0, 3, 7, "mce"},
                           {1, 0, 3, 8, "cx8"},
                           {1, 0, 3, 9, "apic"},
                           {1, 0, 3, 11, "sep"},
                           {1, 0, 3, 12, "mtrr"},
                           {1, 0, 3, 13, "pge"},
                           {1, 0, 3, 14, "mca"},
                           {1, 0, 3, 15, "cmov"},
                           {1, 0, 3, 16, "pat"},
                           {1, 0, 3, 17, "pse36"},
                           {1, 0, 3, 19, "clflush"},
                           {1, 0, 3, 23, "mmx"},
                           {1, 0, 3, 24, "fxsr"},
                           {1, 0, 3, 25, "sse"},
                           {1, 0, 3, 26, "sse2"},
                           {1, 0, 3, 27, "ss"},
                           {1, 0, 3, 28, "ht"},
                           {0x80000001, 0, 3, 11, "syscall"},
                           {0x80000001, 0, 3, 20, "nx"},
                           {0x80000001, 0, 3, 22, "mmxext"},
                           {0x80000001, 0, 3, 26, "pdpe1gb"},
                           {0x80000001, 0, 3, 27, "rdtscp"},
                           {0x80000001, 0, 3, 29, "lm"},
                           {1, 0, 2, 0, "pni"},
                           {1, 0, 2, 1, "pclmulqdq"},
                           {1, 0, 2, 3, "monitor"},
                           {1, 0, 2, 9, "ssse3"},
                           {1, 0, 2, 12, "fma"},
                           {1, 0, 2, 13, "cx16"},
                           {1, 0, 2, 17, "pcid"},
                           {1, 0, 2, 19, "sse4_1"},
                           {1, 0, 2, 20, "sse4_2"},
                           {1, 0, 2, 21, "x2apic"},
                           {1, 0, 2, 22, "movbe"},
                           {1, 0, 2, 23, "popcnt"},
                           {1, 0, 2, 25, "aes"},
                           {1, 0, 2, 26, "xsave"},
                           {1, 0, 2, 28, "avx"},
                           {1, 0, 2, 29, "f16c"},
                           {1, 0, 2, 30, "rdrand"},
                           {1, 0, 2, 31, "hypervisor"},
                           {0x80000001, 0, 2, 0, "lahf_lm"},
                           {0x80000001, 0, 2, 1, "cmp_legacy"},
                           {0x80000001, 0, 2, 5, "abm"},
                           {0x80000001, 0, 2, 6, "sse4a"},
                           {0x80000001, 0, 2, 8, "3dnowprefetch"},
                           {7, 0, 1, 0, "fsgsbase"},
                           {7, 0, 1, 3, "bmi1"},
                           {7, 0, 1, 4, "hle"},
                           {7, 0, 1, 5, "avx2"},
                           {7, 0, 1, 7, "smep"},
                           {7, 0, 1, 8, "bmi2"},
                           {7, 0, 1, 9, "erms"},
                           {7, 0, 1, 10, "invpcid"},
                           {7, 0, 1, 11, "rtm"},
                           {7, 0, 1, 16, "avx512f"},
                           {7, 0, 1, 17, "avx512dq"},
                           {7, 0, 1, 18, "rdseed"},
                           {7, 0, 1, 19, "adx"},
                           {7, 0, 1, 20, "smap"},
                           {7, 0, 1, 21, "avx512ifma"},
                           {7, 0, 1, 23, "clflushopt"},
                           {7, 0, 1, 24, "clwb"},
                           {7, 0, 1, 28, "avx512cd"},
                           {7, 0, 1, 29, "sha_ni"},
                           {7, 0, 1, 30, "avx512bw"},
                           {7, 0, 1, 31, "avx512vl"},
                           {0xd, 1, 0, 0, "xsaveopt"},
                           {0xd, 1, 0, 1, "xsavec"},
                           {0xd, 1, 0, 2, "xgetbv1"},
                           {0xd, 1, 0, 3, "xsaves"},
                           {7, 0, 2, 1, "avx512vbmi"},
                           {7, 0, 2, 2, "umip"},
                           {7, 0, 2, 3, "pku"},
                           {7, 0, 2, 6, "avx512_vbmi2"},
                           {7, 0, 2, 8, "gfni"},
                           {7, 0, 2, 9, "vaes"},
                           {7, 0, 2, 10, "vpclmulqdq"},
                           {7, 0, 2, 11, "avx512_vnni"},
                           {7, 0, 2, 12, "avx512_bitalg"},
                           {7, 0, 2, 14, "avx512_vpopcntdq"},
                           {7, 0, 2, 22, "rdpid"},
                           {7, 0, 3, 4, "fsrm"},
                           {7, 0, 3, 8, "avx512_vp2intersect"},
                           {7, 0, 3, 10, "md_clear"},
                           {7, 0, 3, 14, "serialize"},
                           {7, 0, 3, 24, "amx_tile"},
                           {7, 0, 3, 26, "spec_ctrl"},
                           {7, 0, 3, 29, "arch_capabilities"}};

std::string Flags() {
  uint32_t max_leaf = Cpuid(0).a;
  uint32_t max_ext = Cpuid(0x80000000).a;
  std::string out;
  for (const Flag& f : kFlags) {
    if (f.leaf < 0x80000000 ? f.leaf > max_leaf : f.leaf > max_ext) continue;
    Regs r = Cpuid(f.leaf, f.sub);
    uint32_t v[] = {r.a, r.b, r.c, r.d};
    if (!(v[f.reg] >> f.bit & 1)) continue;
    if (!out.empty()) out += ' ';
    out += f.name;
  }
  return out;
}

std::string Vendor() {
  Regs r = Cpuid(0);
  char s[13] = {};
  memcpy(s, &r.b, 4);
  memcpy(s + 4, &r.d, 4);
  memcpy(s + 8, &r.c, 4);
  return s;
}

std::string ModelName() {
  if (Cpuid(0x80000000).a < 0x80000004) return "unknown";
  char s[49] = {};
  for (uint32_t i = 0; i < 3; i++) {
    Regs r = Cpuid(0x80000002 + i);
    memcpy(s + i * 16, &r, 16);
  }
  std::string name(s);
  size_t b = name.find_first_not_of(' ');
  size_t e = name.find_last_not_of(' ');
  return b == std::string::npos ? "unknown" : name.substr(b, e - b + 1);
}

// The clock in MHz: CPUID leaf 0x16 if present, else the "@ 2.20GHz" of
// the model name.
double Mhz(const std::string& model) {
  if (Cpuid(0).a >= 0x16 && Cpuid(0x16).a) return Cpuid(0x16).a;
  size_t at = model.find("@ ");
  if (at != std::string::npos) {
    double ghz = atof(model.c_str() + at + 2);
    if (ghz > 0) return ghz * 1000;
  }
  return 2000;
}

// The size in KB of the last-level cache.
uint64_t CacheKb() {
  uint64_t best = 0;
  if (Cpuid(0).a >= 4) {
    for (uint32_t i = 0; i < 16; i++) {
      Regs r = Cpuid(4, i);
      if ((r.a & 0x1f) == 0) break;
      uint64_t size = uint64_t((r.b >> 22) + 1) * (((r.b >> 12) & 0x3ff) + 1) *
                      ((r.b & 0xfff) + 1) * (uint64_t(r.c) + 1);
      best = std::max(best, size / 1024);
    }
  }
  if (best == 0 && Cpuid(0x80000000).a >= 0x80000006) {
    Regs r = Cpuid(0x80000006);
    best = std::max<uint64_t>(uint64_t(r.d >> 18) * 512, r.c >> 16);
  }
  return best;
}

}  // namespace

std::string FormatCpuinfo() {
  Regs id = Cpuid(1);
  uint32_t family = (id.a >> 8) & 0xf;
  uint32_t model = (id.a >> 4) & 0xf;
  if (family == 0xf) family += (id.a >> 20) & 0xff;
  if (family == 6 || family >= 0xf) model += ((id.a >> 16) & 0xf) << 4;
  std::string name = ModelName();
  double mhz = Mhz(name);
  Regs sizes = Cpuid(0x80000008);
  int ncpu = SandboxCpuCount();
  std::string flags = Flags();
  std::string out;
  for (int cpu = 0; cpu < ncpu; cpu++) {
    out += fmt::format(
        "processor\t: {}\nvendor_id\t: {}\ncpu family\t: {}\nmodel\t\t: {}\n"
        "model name\t: {}\nstepping\t: {}\nmicrocode\t: 0x1\n"
        "cpu MHz\t\t: {:.3f}\ncache size\t: {} KB\nphysical id\t: 0\n"
        "siblings\t: {}\ncore id\t\t: {}\ncpu cores\t: {}\napicid\t\t: {}\n"
        "initial apicid\t: {}\nfpu\t\t: yes\nfpu_exception\t: yes\n"
        "cpuid level\t: {}\nwp\t\t: yes\nflags\t\t: {}\nbugs\t\t:\n"
        "bogomips\t: {:.2f}\nclflush size\t: {}\ncache_alignment\t: {}\n"
        "address sizes\t: {} bits physical, {} bits virtual\n"
        "power management:\n\n",
        cpu, Vendor(), family, model, name, id.a & 0xf, mhz, CacheKb(), ncpu,
        cpu, ncpu, cpu, cpu, Cpuid(0).a, flags, mhz * 2,
        ((id.b >> 8) & 0xff) * 8, ((id.b >> 8) & 0xff) * 8, sizes.a & 0xff,
        (sizes.a >> 8) & 0xff);
  }
  return out;
}

}  // namespace moat::proc
