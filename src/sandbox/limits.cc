#include "sandbox/limits.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace moat {
namespace {

// Below this even a small dynamically linked program cannot load: its
// libraries' pages are charged too. Docker's minimum is 6 MiB.
constexpr uint64_t kMinMemory = 4ull << 20;
// Linux's PID_MAX_LIMIT: more tasks than pids can never exist.
constexpr uint64_t kMaxPids = 4194304;
// A hundredth of a CPU is the finest share the host's CFS quota can give
// at its default period, as `docker run --cpus` also requires.
constexpr double kMinCpus = 0.01;

// Reads the decimal digits at the start of `text` into *out; returns how
// many there were, or 0 when there were none or they overflow.
size_t ReadDigits(const std::string& text, uint64_t* out) {
  size_t i = 0;
  uint64_t value = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; i++) {
    uint64_t digit = text[i] - '0';
    if (value > (UINT64_MAX - digit) / 10) return 0;
    value = value * 10 + digit;
  }
  *out = value;
  return i;
}

// The power of 1024 that a size suffix stands for, or -1.
int SuffixShift(const std::string& suffix) {
  if (suffix.empty()) return 0;
  if (suffix.size() != 1) return -1;
  switch (suffix[0]) {
    case 'k': case 'K': return 10;
    case 'm': case 'M': return 20;
    case 'g': case 'G': return 30;
    case 't': case 'T': return 40;
  }
  return -1;
}

}  // namespace

std::string ParseMemoryLimit(const std::string& text, uint64_t* out) {
  std::string usage = fmt::format(
      "--memory {}: expected a size in bytes with an optional K, M or G "
      "suffix, such as --memory 256M", text);
  uint64_t value;
  size_t digits = ReadDigits(text, &value);
  if (digits == 0) return usage;
  int shift = SuffixShift(text.substr(digits));
  if (shift < 0) return usage;
  if (value > (UINT64_MAX >> 1) >> shift) {
    return fmt::format("--memory {}: too large; give at most the host's "
                       "memory, such as --memory 4G", text);
  }
  value <<= shift;
  if (value < kMinMemory) {
    return fmt::format("--memory {}: too small for any program; give at "
                       "least 4M", text);
  }
  *out = value;
  return "";
}

std::string ParsePidsLimit(const std::string& text, uint64_t* out) {
  uint64_t value;
  size_t digits = ReadDigits(text, &value);
  if (digits == 0 || digits != text.size() || value == 0 ||
      value > kMaxPids) {
    return fmt::format("--pids {}: expected a number of tasks from 1 to {}, "
                       "such as --pids 64", text, kMaxPids);
  }
  *out = value;
  return "";
}

std::string ParseCpusLimit(const std::string& text, int host_cpus,
                           double* out) {
  // Only plain decimals: strtod alone would also take "inf", "nan", hex
  // and exponents.
  bool valid = !text.empty() && text.find_first_not_of("0123456789.") ==
                                    std::string::npos;
  valid = valid && text.find('.') == text.rfind('.') && text != ".";
  double value = valid ? strtod(text.c_str(), nullptr) : 0;
  if (!valid || value < kMinCpus || value > host_cpus) {
    return fmt::format("--cpus {}: expected a number of CPUs from 0.01 to "
                       "{} (this host's), such as --cpus 1.5", text,
                       host_cpus);
  }
  *out = value;
  return "";
}

int VisibleCpus(double cpus, int host_cpus) {
  if (cpus <= 0) return host_cpus;
  return std::clamp(static_cast<int>(std::ceil(cpus)), 1, host_cpus);
}

uint64_t BackstopMemory(uint64_t memory) {
  // moat's own heap grows with the sandbox (page tables, file caches), and
  // the host charges the stubs' page tables here too: room for both.
  return memory + memory / 4 + (256ull << 20);
}

uint64_t BackstopPids(uint64_t pids) {
  // Every task is a kernel thread and a stub thread on the host, and every
  // process's address space one idle stub process more. The kernel, the
  // address spaces made ahead and the gofer have a few of their own.
  return 3 * pids + 64;
}

}  // namespace moat
