/* "#!" scripts: the interpreter's argv, optional argument splitting, nested
 * interpreters and errors.
 *
 * Scripts name this program as their interpreter. Run that way, it receives
 * argv[1] == "report" from the #! line (or "report" appended by the test when
 * the line has no argument), and compares its whole argv with the expected
 * vector passed in the EXPECTED environment variable, one entry per line. */
#include "check.h"

#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/stat.h>

static char self_path[4096];
static char* directory;

static int mode_report(int argc, char** argv) {
  CASE("interpreter receives the expected argv");
  const char* expected = getenv("EXPECTED");
  CHECK(expected != NULL);
  if (expected == NULL) return check_finish();
  char copy[8192];
  snprintf(copy, sizeof copy, "%s", expected);
  int index = 0;
  for (char *line = copy, *next; line != NULL && *line != '\0'; line = next) {
    next = strchr(line, '\n');
    if (next != NULL) *next++ = '\0';
    if (index >= argc) {
      CHECK_EQ(argc, index + 1);
      break;
    }
    CHECK_STR(argv[index], line);
    index++;
  }
  CHECK_EQ(argc, index);

  CASE("AT_EXECFN is the script path");
  const char* execfn = getenv("EXPECTED_EXECFN");
  if (execfn != NULL) CHECK_STR((const char*)getauxval(AT_EXECFN), execfn);
  return check_finish();
}

static void write_script(const char* name, const char* content, mode_t mode,
                         char* path, size_t size) {
  snprintf(path, size, "%s/%s", directory, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  CHECK(fd >= 0);
  CHECK_EQ(write(fd, content, strlen(content)), (ssize_t)strlen(content));
  close(fd);
  chmod(path, mode);
}

/* Runs path with argv and EXPECTED set; returns the exit code, or errno
 * when execve itself failed. */
static int run_script(const char* path, char* const argv[],
                      const char* expected, const char* execfn) {
  pid_t pid = fork();
  if (pid == 0) {
    char expected_variable[8300], execfn_variable[4400];
    snprintf(expected_variable, sizeof expected_variable, "EXPECTED=%s",
             expected);
    snprintf(execfn_variable, sizeof execfn_variable, "EXPECTED_EXECFN=%s",
             execfn);
    char* envp[] = {expected_variable, execfn_variable, NULL};
    execve(path, argv, envp);
    _exit(errno);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 1000 + WTERMSIG(status);
}

static void test_argument_forms(void) {
  char content[9000], path[4400], expected[16384];

  CASE("#! line with one argument");
  snprintf(content, sizeof content, "#!%s report\nbody\n", self_path);
  write_script("one", content, 0755, path, sizeof path);
  char* argv1[] = {"ignored-name", "x", "y z", NULL};
  snprintf(expected, sizeof expected, "%s\nreport\n%s\nx\ny z\n", self_path,
           path);
  CHECK_EQ(run_script(path, argv1, expected, path), 0);

  CASE("#! line without argument puts the script path first");
  snprintf(content, sizeof content, "#!%s\n", self_path);
  write_script("none", content, 0755, path, sizeof path);
  char* argv2[] = {"ignored-name", "report", NULL};
  snprintf(expected, sizeof expected, "%s\n%s\nreport\n", self_path, path);
  CHECK_EQ(run_script(path, argv2, expected, path), 0);

  CASE("everything after the interpreter is one argument");
  snprintf(content, sizeof content, "#!%s report a  b\t \n", self_path);
  write_script("spaces", content, 0755, path, sizeof path);
  char* argv3[] = {"ignored-name", NULL};
  snprintf(expected, sizeof expected, "%s\nreport a  b\n%s\n", self_path, path);
  /* The whole remainder is a single argument, so mode dispatch receives
   * "report a  b", and the dispatcher accepts any argument that starts with
   * "report". */
  CHECK_EQ(run_script(path, argv3, expected, path), 0);

  CASE("blanks between #! and the interpreter are skipped");
  snprintf(content, sizeof content, "#! \t%s report\n", self_path);
  write_script("leading", content, 0755, path, sizeof path);
  snprintf(expected, sizeof expected, "%s\nreport\n%s\n", self_path, path);
  CHECK_EQ(run_script(path, argv3, expected, path), 0);

  CASE("argv[0] of the script is replaced by the script path");
  snprintf(content, sizeof content, "#!%s report\n", self_path);
  write_script("argv0", content, 0755, path, sizeof path);
  char* argv5[] = {"something-else", "tail", NULL};
  snprintf(expected, sizeof expected, "%s\nreport\n%s\ntail\n", self_path,
           path);
  CHECK_EQ(run_script(path, argv5, expected, path), 0);
}

static void test_nested(void) {
  CASE("script interpreter can itself be a script");
  char content[9000], inner[4400], outer[4400], expected[16384];
  snprintf(content, sizeof content, "#!%s report\n", self_path);
  write_script("inner", content, 0755, inner, sizeof inner);
  snprintf(content, sizeof content, "#!%s\n", inner);
  write_script("outer", content, 0755, outer, sizeof outer);
  char* argv[] = {"outer", "last", NULL};
  snprintf(expected, sizeof expected, "%s\nreport\n%s\n%s\nlast\n", self_path,
           inner, outer);
  CHECK_EQ(run_script(outer, argv, expected, outer), 0);

  CASE("relative script path is passed as given");
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(directory) != 0) _exit(98);
    char expected_variable[9000];
    snprintf(expected_variable, sizeof expected_variable,
             "EXPECTED=%s\nreport\n./inner\n", self_path);
    char* envp[] = {expected_variable, NULL};
    char* relative_argv[] = {"inner", NULL};
    execve("./inner", relative_argv, envp);
    _exit(errno);
  }
  CHECK_CHILD_EXIT(pid, 0);
}

static void test_errors(void) {
  char content[9000], path[4400];
  char* argv[] = {"script", NULL};

  CASE("missing interpreter fails with ENOENT");
  snprintf(content, sizeof content, "#!%s/no-such-interpreter\n", directory);
  write_script("missing", content, 0755, path, sizeof path);
  CHECK_EQ(run_script(path, argv, "", ""), ENOENT);

  CASE("script without execute permission fails with EACCES");
  snprintf(content, sizeof content, "#!%s report\n", self_path);
  write_script("noexec", content, 0644, path, sizeof path);
  CHECK_EQ(run_script(path, argv, "", ""), EACCES);

  CASE("#! with no interpreter fails with ENOEXEC");
  write_script("blank", "#!\n", 0755, path, sizeof path);
  CHECK_EQ(run_script(path, argv, "", ""), ENOEXEC);

  CASE("interpreter that is a directory fails with EACCES");
  snprintf(content, sizeof content, "#!%s\n", directory);
  write_script("dir", content, 0755, path, sizeof path);
  CHECK_EQ(run_script(path, argv, "", ""), EACCES);
}

int main(int argc, char** argv) {
  if (argc >= 2 && strncmp(argv[1], "report", 6) == 0)
    return mode_report(argc, argv);
  if (argc >= 3 && strcmp(argv[2], "report") == 0)
    return mode_report(argc, argv);

  if (realpath(argv[0], self_path) == NULL) {
    printf("setup: realpath(%s) failed with %s\n", argv[0],
           check_errno_name(errno));
    return 2;
  }
  directory = check_make_temp_dir();
  test_argument_forms();
  test_nested();
  test_errors();
  check_remove_tree(directory);
  return check_finish();
}
