#include "oci/seccomp_profile.h"

#include <fmt/format.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <memory>

namespace moat::oci {
namespace {

using nlohmann::json;

// libseccomp's filter context, released on every return path.
using FilterContext =
    std::unique_ptr<void, decltype([](void* ctx) { seccomp_release(ctx); })>;

constexpr std::pair<const char*, uint32_t> kActions[] = {
    {"SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD},
    {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD},
    {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS},
    {"SCMP_ACT_TRAP", SCMP_ACT_TRAP},
    {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0)},
    {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0)},
    {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW},
    {"SCMP_ACT_LOG", SCMP_ACT_LOG},
};

constexpr std::pair<const char*, scmp_compare> kOperators[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

constexpr std::pair<const char*, uint32_t> kFlags[] = {
    {"SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC},
    {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
};

// Reads the action named by `object[action_field]`, with the errno of
// `object[errno_field]` for SCMP_ACT_ERRNO and SCMP_ACT_TRACE (EPERM when
// absent, as in runc). `where` names the object in errors.
std::string ParseAction(const json& object, const char* action_field,
                        const char* errno_field, const std::string& where,
                        uint32_t* out) {
  std::string name = object.value(action_field, "");
  if (name == "SCMP_ACT_NOTIFY") {
    // TODO: seccomp user notification is not implemented in the kernel.
    return fmt::format(
        "{}.{} SCMP_ACT_NOTIFY: seccomp user notification "
        "is not supported by moat; use another action",
        where, action_field);
  }
  const auto* found = std::ranges::find_if(
      kActions, [&](const auto& entry) { return name == entry.first; });
  if (found == std::end(kActions))
    return fmt::format("{}.{}: unknown action \"{}\"", where, action_field,
                       name);
  *out = found->second;
  bool takes_errno = *out == SCMP_ACT_ERRNO(0) || *out == SCMP_ACT_TRACE(0);
  if (!object.contains(errno_field) || object[errno_field].is_null()) {
    if (takes_errno) *out |= EPERM;
    return "";
  }
  if (!takes_errno)
    return fmt::format(
        "{}.{}: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take "
        "an errno, not {}",
        where, errno_field, name);
  *out |= object[errno_field].get<uint32_t>() & SECCOMP_RET_DATA;
  return "";
}

std::string AddArchitectures(const json& profile, void* ctx) {
  for (const auto& entry : profile.value("architectures", json::array())) {
    std::string name = entry.get<std::string>();
    // libseccomp spells SCMP_ARCH_X86_64 as "x86_64".
    std::string bare = name.starts_with("SCMP_ARCH_") ? name.substr(10) : name;
    for (char& c : bare) c = static_cast<char>(tolower(c));
    uint32_t arch = seccomp_arch_resolve_name(bare.c_str());
    if (arch == 0)
      return fmt::format(
          "linux.seccomp.architectures: unknown architecture "
          "\"{}\"",
          name);
    int rc = seccomp_arch_add(ctx, arch);
    if (rc != 0 && rc != -EEXIST)
      return fmt::format(
          "linux.seccomp.architectures {}: libseccomp failed "
          "to add it: {}",
          name, strerror(-rc));
  }
  return "";
}

std::string ParseFlags(const json& profile, uint32_t* out) {
  for (const auto& entry : profile.value("flags", json::array())) {
    std::string name = entry.get<std::string>();
    const auto* found = std::ranges::find_if(
        kFlags, [&](const auto& flag) { return name == flag.first; });
    if (found == std::end(kFlags))
      return fmt::format(
          "linux.seccomp.flags: unknown or unsupported flag "
          "\"{}\"",
          name);
    *out |= found->second;
  }
  return "";
}

std::string ParseArgument(const json& arg, const std::string& where,
                          scmp_arg_cmp* out) {
  unsigned index = arg.value("index", 0u);
  if (index >= 6)
    return fmt::format("{}.index {}: a call has arguments 0 to 5", where,
                       index);
  std::string op = arg.value("op", "");
  const auto* found = std::ranges::find_if(
      kOperators, [&](const auto& entry) { return op == entry.first; });
  if (found == std::end(kOperators))
    return fmt::format("{}.op: unknown operator \"{}\"", where, op);
  *out = {index, found->second, arg.value("value", uint64_t{0}),
          arg.value("valueTwo", uint64_t{0})};
  return "";
}

// Adds one rule for each name of syscalls[i]. Like runc, a call whose
// conditions test one argument twice gets one rule per condition, since
// libseccomp cannot AND two conditions on the same argument.
std::string AddRule(void* ctx, const json& rule, const std::string& where,
                    uint32_t default_action) {
  uint32_t action = 0;
  if (auto e = ParseAction(rule, "action", "errnoRet", where, &action);
      !e.empty())
    return e;
  std::vector<scmp_arg_cmp> conditions;
  bool repeated_argument = false;
  const json& args = rule.value("args", json::array());
  for (size_t i = 0; i < args.size(); i++) {
    scmp_arg_cmp cmp;
    std::string arg_where = fmt::format("{}.args[{}]", where, i);
    if (auto e = ParseArgument(args[i], arg_where, &cmp); !e.empty()) return e;
    for (const auto& other : conditions)
      repeated_argument = repeated_argument || other.arg == cmp.arg;
    conditions.push_back(cmp);
  }
  // libseccomp rejects a rule with the default action, which adds nothing.
  if (action == default_action) return "";
  for (const auto& entry : rule.value("names", json::array())) {
    std::string name = entry.get<std::string>();
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // unknown here, as runc skips it
    int rc = 0;
    if (repeated_argument) {
      for (const auto& cmp : conditions)
        if (rc == 0) rc = seccomp_rule_add_array(ctx, action, nr, 1, &cmp);
    } else {
      rc = seccomp_rule_add_array(ctx, action, nr, conditions.size(),
                                  conditions.data());
    }
    if (rc != 0)
      return fmt::format("{} {}: libseccomp failed to add the rule: {}", where,
                         name, strerror(-rc));
  }
  return "";
}

// Writes the filter as BPF to a memory file and reads it back.
std::string ExportOnce(void* ctx, std::vector<uint64_t>* out) {
  int fd = memfd_create("moat-seccomp", MFD_CLOEXEC);
  if (fd < 0)
    return fmt::format("linux.seccomp: memfd_create failed: {}",
                       strerror(errno));
  std::string bytes;
  int rc = seccomp_export_bpf(ctx, fd);
  if (rc == 0) {
    char buf[8192];
    ssize_t n;
    while ((n = pread(fd, buf, sizeof buf, bytes.size())) > 0)
      bytes.append(buf, n);
  }
  close(fd);
  if (rc != 0)
    return fmt::format(
        "linux.seccomp: libseccomp failed to export the "
        "filter: {}",
        strerror(-rc));
  out->clear();
  for (size_t off = 0; off + sizeof(sock_filter) <= bytes.size();
       off += sizeof(sock_filter)) {
    sock_filter insn;
    memcpy(&insn, bytes.data() + off, sizeof insn);
    out->push_back(PackInstruction(insn));
  }
  return "";
}

// Exports the filter as a binary tree of call numbers, which makes the
// same decisions as libseccomp's default linear list: a call of Podman's
// default profile then runs tens of instructions instead of hundreds. A
// tree past the kernel's limit of 4096 instructions falls back to the
// list, which is shorter.
std::string Export(void* ctx, std::vector<uint64_t>* out) {
  bool tree = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) == 0;
  if (auto e = ExportOnce(ctx, out); !e.empty()) return e;
  if (tree && out->size() > BPF_MAXINSNS &&
      seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 1) == 0) {
    if (auto e = ExportOnce(ctx, out); !e.empty()) return e;
  }
  if (out->size() > BPF_MAXINSNS)
    return fmt::format(
        "linux.seccomp: the profile compiles to {} BPF "
        "instructions, more than the kernel's limit of {}",
        out->size(), BPF_MAXINSNS);
  return "";
}

}  // namespace

uint64_t PackInstruction(const sock_filter& insn) {
  uint64_t packed;
  static_assert(sizeof packed == sizeof insn);
  memcpy(&packed, &insn, sizeof packed);
  return packed;
}

sock_filter UnpackInstruction(uint64_t packed) {
  sock_filter insn;
  memcpy(&insn, &packed, sizeof insn);
  return insn;
}

json SeccompFeatures() {
  json actions = json::array(), operators = json::array(),
       flags = json::array();
  for (const auto& [name, action] : kActions) actions.push_back(name);
  for (const auto& [name, op] : kOperators) operators.push_back(name);
  for (const auto& [name, flag] : kFlags) flags.push_back(name);
  // The architectures whose calls moat serves or fails with ENOSYS.
  json archs = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
  return {{"enabled", true}, {"actions", actions},  {"operators", operators},
          {"archs", archs},  {"knownFlags", flags}, {"supportedFlags", flags}};
}

std::string CompileSeccompProfile(const json& profile, SeccompProgram* out) {
  if (!profile.is_object())
    return "linux.seccomp: not an object; give defaultAction and syscalls";
  uint32_t default_action = 0;
  if (auto e = ParseAction(profile, "defaultAction", "defaultErrnoRet",
                           "linux.seccomp", &default_action);
      !e.empty())
    return e;
  FilterContext ctx(seccomp_init(default_action));
  if (!ctx)
    return fmt::format(
        "linux.seccomp.defaultAction {}: libseccomp cannot "
        "make a filter with it",
        profile.value("defaultAction", ""));
  for (auto e :
       {AddArchitectures(profile, ctx.get()), ParseFlags(profile, &out->flags)})
    if (!e.empty()) return e;
  const json& rules = profile.value("syscalls", json::array());
  for (size_t i = 0; i < rules.size(); i++) {
    std::string where = fmt::format("linux.seccomp.syscalls[{}]", i);
    if (auto e = AddRule(ctx.get(), rules[i], where, default_action);
        !e.empty())
      return e;
  }
  return Export(ctx.get(), &out->instructions);
}

}  // namespace moat::oci
