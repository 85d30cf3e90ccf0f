/* posix_spawn() and posix_spawnp(): arguments, environment, file actions,
 * attributes, PATH search and errors. The program spawns itself with a mode
 * word in argv[1]. */
#include "check.h"

#include <fcntl.h>
#include <limits.h>
#include <spawn.h>

extern char** environ;

static char self_path[PATH_MAX];
static char* directory;

static int mode_check(int argc, char** argv) {
  const char* check_name = argv[2];
  if (strcmp(check_name, "args") == 0) {
    CASE("spawned program receives argv and envp");
    CHECK_EQ(argc, 5);
    if (argc == 5) {
      CHECK_STR(argv[3], "with space");
      CHECK_STR(argv[4], "");
    }
    CHECK_STR(getenv("SPAWN_VARIABLE"), "value");
    CHECK(getenv("HOME_SHOULD_BE_UNSET") == NULL);
  } else if (strcmp(check_name, "output") == 0) {
    printf("spawned output\n");
    return 0;
  } else if (strcmp(check_name, "closed") == 0) {
    CASE("addclose closes the descriptor in the child");
    CHECK_ERR(fcntl(atoi(argv[3]), F_GETFD), EBADF);
  } else if (strcmp(check_name, "sigmask") == 0) {
    CASE("POSIX_SPAWN_SETSIGMASK sets the child's mask");
    sigset_t mask;
    sigprocmask(SIG_SETMASK, NULL, &mask);
    CHECK_EQ(sigismember(&mask, SIGUSR2), 1);
    CASE("POSIX_SPAWN_SETSIGDEF resets an ignored signal");
    struct sigaction action;
    sigaction(SIGUSR1, NULL, &action);
    CHECK(action.sa_handler == SIG_DFL);
  } else if (strcmp(check_name, "pgroup") == 0) {
    CASE("POSIX_SPAWN_SETPGROUP with 0 makes a new group");
    CHECK_EQ(getpgrp(), getpid());
  } else if (strcmp(check_name, "session") == 0) {
    CASE("POSIX_SPAWN_SETSID makes a new session");
    CHECK_EQ(getsid(0), getpid());
  } else if (strcmp(check_name, "cwd") == 0) {
    CASE("addchdir_np changes the child's directory");
    char cwd[PATH_MAX];
    CHECK_STR(getcwd(cwd, sizeof cwd), argv[3]);
  } else if (strcmp(check_name, "exit") == 0) {
    return atoi(argv[3]);
  }
  return check_finish();
}

static int wait_exit(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  if (!WIFEXITED(status)) return 1000 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

int main(int argc, char** argv) {
  if (argc >= 3 && strcmp(argv[1], "check") == 0) return mode_check(argc, argv);
  if (realpath(argv[0], self_path) == NULL) {
    printf("setup: realpath(%s) failed with %s\n", argv[0],
           check_errno_name(errno));
    return 2;
  }
  directory = check_make_temp_dir();
  pid_t pid;

  CASE("posix_spawn runs the program with argv and envp");
  char* args_argv[] = {self_path, "check", "args", "with space", "", NULL};
  char* args_envp[] = {"SPAWN_VARIABLE=value", NULL};
  CHECK_EQ(posix_spawn(&pid, self_path, NULL, NULL, args_argv, args_envp), 0);
  CHECK_EQ(wait_exit(pid), 0);

  CASE("exit status of the spawned program reaches the parent");
  char* exit_argv[] = {self_path, "check", "exit", "23", NULL};
  CHECK_EQ(posix_spawn(&pid, self_path, NULL, NULL, exit_argv, environ), 0);
  CHECK_EQ(wait_exit(pid), 23);

  CASE("addopen redirects stdout to a file");
  char output_path[PATH_MAX];
  snprintf(output_path, sizeof output_path, "%s/output", directory);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  CHECK_EQ(posix_spawn_file_actions_addopen(&actions, 1, output_path,
                                            O_WRONLY | O_CREAT | O_TRUNC, 0644),
           0);
  char* output_argv[] = {self_path, "check", "output", NULL};
  CHECK_EQ(posix_spawn(&pid, self_path, &actions, NULL, output_argv, environ),
           0);
  CHECK_EQ(wait_exit(pid), 0);
  posix_spawn_file_actions_destroy(&actions);
  char buffer[64] = {0};
  int fd = open(output_path, O_RDONLY);
  CHECK_EQ(read(fd, buffer, sizeof buffer - 1), 15);
  CHECK_STR(buffer, "spawned output\n");
  close(fd);

  CASE("adddup2 redirects stdout to a pipe");
  int fds[2];
  CHECK_OK(pipe(fds));
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  CHECK_EQ(posix_spawn(&pid, self_path, &actions, NULL, output_argv, environ),
           0);
  posix_spawn_file_actions_destroy(&actions);
  CHECK_EQ(wait_exit(pid), 0);
  memset(buffer, 0, sizeof buffer);
  CHECK_EQ(read(fds[0], buffer, sizeof buffer - 1), 15);

  CASE("addclose closes a descriptor in the child");
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  char fd_text[16];
  snprintf(fd_text, sizeof fd_text, "%d", fds[0]);
  char* closed_argv[] = {self_path, "check", "closed", fd_text, NULL};
  CHECK_EQ(posix_spawn(&pid, self_path, &actions, NULL, closed_argv, environ),
           0);
  posix_spawn_file_actions_destroy(&actions);
  CHECK_EQ(wait_exit(pid), 0);
  close(fds[0]);
  close(fds[1]);

  CASE("signal mask and default attributes apply in the child");
  signal(SIGUSR1, SIG_IGN);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t mask, defaults;
  sigemptyset(&mask);
  sigaddset(&mask, SIGUSR2);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGUSR1);
  posix_spawnattr_setsigmask(&attributes, &mask);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char* sigmask_argv[] = {self_path, "check", "sigmask", NULL};
  CHECK_EQ(
      posix_spawn(&pid, self_path, NULL, &attributes, sigmask_argv, environ),
      0);
  CHECK_EQ(wait_exit(pid), 0);
  posix_spawnattr_destroy(&attributes);
  signal(SIGUSR1, SIG_DFL);

  CASE("POSIX_SPAWN_SETPGROUP puts the child in its own group");
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  char* pgroup_argv[] = {self_path, "check", "pgroup", NULL};
  CHECK_EQ(
      posix_spawn(&pid, self_path, NULL, &attributes, pgroup_argv, environ), 0);
  CHECK_EQ(wait_exit(pid), 0);
  posix_spawnattr_destroy(&attributes);

  CASE("POSIX_SPAWN_SETSID puts the child in its own session");
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID);
  char* session_argv[] = {self_path, "check", "session", NULL};
  CHECK_EQ(
      posix_spawn(&pid, self_path, NULL, &attributes, session_argv, environ),
      0);
  CHECK_EQ(wait_exit(pid), 0);
  posix_spawnattr_destroy(&attributes);

  CASE("addchdir_np runs the child in another directory");
  char real_directory[PATH_MAX];
  CHECK(realpath(directory, real_directory) != NULL);
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, real_directory);
  char* cwd_argv[] = {self_path, "check", "cwd", real_directory, NULL};
  CHECK_EQ(posix_spawn(&pid, self_path, &actions, NULL, cwd_argv, environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  CHECK_EQ(wait_exit(pid), 0);

  CASE("posix_spawnp searches PATH");
  char program_directory[PATH_MAX];
  snprintf(program_directory, sizeof program_directory, "%s", self_path);
  char* slash = strrchr(program_directory, '/');
  *slash = '\0';
  char path_variable[PATH_MAX + 32];
  snprintf(path_variable, sizeof path_variable, "%s:/nonexistent",
           program_directory);
  setenv("PATH", path_variable, 1);
  char* path_argv[] = {slash + 1, "check", "exit", "31", NULL};
  CHECK_EQ(posix_spawnp(&pid, slash + 1, NULL, NULL, path_argv, environ), 0);
  CHECK_EQ(wait_exit(pid), 31);

  CASE("missing program returns ENOENT");
  char* missing_argv[] = {"missing", NULL};
  char missing_path[PATH_MAX];
  snprintf(missing_path, sizeof missing_path, "%s/missing", directory);
  CHECK_EQ(posix_spawn(&pid, missing_path, NULL, NULL, missing_argv, environ),
           ENOENT);

  CASE("failing file action returns its error");
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 5, missing_path, O_RDONLY, 0);
  CHECK_EQ(posix_spawn(&pid, self_path, &actions, NULL, exit_argv, environ),
           ENOENT);
  posix_spawn_file_actions_destroy(&actions);

  CASE("non-executable file returns EACCES");
  CHECK_EQ(posix_spawn(&pid, output_path, NULL, NULL, missing_argv, environ),
           EACCES);

  CASE("no children are left behind by failed spawns");
  CHECK_ERR(waitpid(-1, NULL, WNOHANG), ECHILD);
  check_remove_tree(directory);
  return check_finish();
}
