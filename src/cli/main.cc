// The moat command.
#include <CLI/CLI.hpp>
#include <filesystem>

#include "gofer/process.h"
#include "oci/cli.h"
#include "sandbox/limits.h"
#include "sandbox/sandbox.h"
#include "util/host_info.h"
#include "util/log.h"

namespace {

// Throws the parse error `error`, if there is one, as CLI11 reports it.
void Check(const std::string& error) {
  if (!error.empty()) throw CLI::ValidationError(error);
}

void AddLimitOptions(CLI::App* run, moat::SandboxLimits& limits) {
  run->add_option_function<std::string>(
      "--memory",
      [&limits](const std::string& text) {
        Check(moat::ParseMemoryLimit(text, &limits.memory));
      },
      "memory limit of the whole sandbox, such as 256M (K, M, G suffixes)");
  run->add_option_function<std::string>(
      "--pids",
      [&limits](const std::string& text) {
        Check(moat::ParsePidsLimit(text, &limits.pids));
      },
      "most tasks (processes and threads) in the sandbox at once");
  run->add_option_function<std::string>(
      "--cpus",
      [&limits](const std::string& text) {
        Check(moat::ParseCpusLimit(text, moat::HostCpuCount(),
                                   &limits.cpus));
      },
      "host CPU time the sandbox may use, in CPUs, such as 1.5");
}

// --syscall-patching on|off, for `moat do` and the OCI commands.
void AddPatchingOption(CLI::App* app, bool& patching) {
  app->add_option_function<std::string>(
         "--syscall-patching",
         [&patching](const std::string& v) { patching = v == "on"; },
         "on the trap platform, rewrite hot system call sites to enter the "
         "kernel without a signal: on (default) or off")
      ->check(CLI::IsMember({"on", "off"}));
}

// The options of `moat do`, which `moat boot` takes too.
void AddSandboxOptions(CLI::App* run, moat::SandboxOptions& opts) {
  run->add_option("--platform", opts.platform,
                  "how system calls are intercepted: trap, ptrace, or auto "
                  "(default: trap where the host allows it, else ptrace)")
      ->check(CLI::IsMember({"auto", "trap", "ptrace"}));
  AddPatchingOption(run, opts.syscall_patching);
  run->add_option("--rootfs", opts.rootfs,
                  "host directory shown read-only as / (default: /)")
      ->check(CLI::ExistingDirectory)
      ->transform([](const std::string& dir) {
        // The gofer serves absolute paths only. A missing directory is
        // left as it is for the check to name.
        std::error_code error;
        auto path = std::filesystem::canonical(dir, error);
        return error ? dir : path.string();
      });
  run->add_option("--cwd", opts.cwd, "working directory inside the sandbox");
  run->add_option("--env", opts.env, "set K=V in the program's environment")
      ->each([](const std::string& kv) {
        if (kv.find('=') == std::string::npos || kv[0] == '=')
          throw CLI::ValidationError("--env " + kv,
                                     "expected KEY=VALUE, as in --env LANG=C");
      });
  run->add_option("--hostname", opts.hostname,
                  "host name inside the sandbox (default: moat)");
  run->add_option("--network", opts.network,
                  "network namespace: none (loopback only) or host")
      ->check(CLI::IsMember({"none", "host"}));
  AddLimitOptions(run, opts.limits);
  run->add_flag("--strace", opts.strace,
                "print every system call with its arguments and result");
  run->add_option("command", opts.argv, "program and its arguments")
      ->required();
  run->positionals_at_end();
  run->prefix_command(false);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"moat: runs untrusted Linux programs on an application kernel"};
  app.require_subcommand(1);
  // A bad option value is reported in one line that names the value and
  // the fix. The pointer to --help is for the other errors.
  app.failure_message([](const CLI::App* a, const CLI::Error& e) {
    if (dynamic_cast<const CLI::ValidationError*>(&e))
      return std::string(e.what()) + "\n";
    return CLI::FailureMessage::simple(a, e);
  });

  std::string log_file;
  bool debug = false;
  app.add_option("--log", log_file, "write logs to this file, not stderr");
  app.add_flag("--debug", debug, "log the kernel's own events");

  moat::SandboxOptions opts;
  // The OCI runtime's global flags and commands (src/oci/).
  moat::oci::Globals oci_globals;
  moat::oci::AddCommands(app, oci_globals, opts);
  app.set_version_flag("-v,--version", "moat version 0.1\nspec: 1.0.2");

  CLI::App* run = app.add_subcommand(
      "do", "run a program in a new sandbox over the host root");
  AddSandboxOptions(run, opts);

  // Internal: the kernel process that `do` starts in its namespaces.
  CLI::App* boot = app.add_subcommand("boot", "")->group("");
  AddSandboxOptions(boot, opts);
  boot->add_option("--gofer-fd", opts.gofer_fd)->required();
  boot->add_option("--uid", opts.uid)->required();
  boot->add_option("--gid", opts.gid)->required();
  boot->add_option("--groups", opts.groups)->delimiter(',');
  boot->add_option("--default-cwd", opts.default_cwd);
  boot->add_option("--oci-spec-fd", opts.oci_spec_fd);
  boot->add_option("--control-fd", opts.control_fd);

  // Internal: the file server that moat starts for each sandbox.
  int gofer_fd = -1;
  std::vector<std::string> gofer_roots;
  CLI::App* gofer = app.add_subcommand("gofer", "")->group("");
  gofer->add_option("--socket-fd", gofer_fd)->required();
  gofer->add_option("--root", gofer_roots)->required();
  bool gofer_outlives_parent = false;
  gofer->add_flag("--outlive-parent", gofer_outlives_parent);

  CLI11_PARSE(app, argc, argv);

  moat::SetLogJson(oci_globals.log_format == "json");
  if (gofer->parsed()) {
    std::vector<moat::gofer::Root> roots;
    for (auto& arg : gofer_roots) {
      moat::gofer::Root r;
      if (!moat::gofer::ParseRoot(arg, &r)) {
        fprintf(stderr, "moat gofer: invalid --root %s: expected an "
                "absolute PATH, PATH:ro or PATH:rw\n", arg.c_str());
        return 2;
      }
      roots.push_back(r);
    }
    return moat::gofer::Main(gofer_fd, std::move(roots), log_file, debug,
                             gofer_outlives_parent);
  }

  moat::InitLogging(log_file, debug);
  if (run->parsed()) return moat::RunFrontEnd(opts);
  if (auto status = moat::oci::RunCommand(app, oci_globals, opts))
    return *status;
  if (opts.strace) moat::EnableStrace(log_file);
  if (boot->parsed()) {
    int status = moat::RunSandbox(opts);
    spdlog::default_logger()->flush();
    fflush(stdout);
    _exit(status);
  }
  return 0;
}
