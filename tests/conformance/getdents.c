/* getdents64() and getdents(): entry names, types, inode numbers, small
 * buffers, rewinding and errors. */
#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

struct linux_dirent {
  unsigned long d_ino;
  unsigned long d_off;
  unsigned short d_reclen;
  char d_name[];
};

static char* directory;

struct entry {
  char name[64];
  unsigned char type;
  uint64_t inode;
};

/* Reads every entry with the given buffer size; returns the entry count or -1.
 */
static int list_entries(int fd, size_t buffer_size, struct entry* entries,
                        int capacity) {
  char buffer[65536];
  int count = 0;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buffer, buffer_size);
    if (n < 0) return -1;
    if (n == 0) break;
    for (long offset = 0; offset < n;) {
      struct linux_dirent64* record = (struct linux_dirent64*)(buffer + offset);
      if (count < capacity) {
        snprintf(entries[count].name, sizeof entries[count].name, "%s",
                 record->d_name);
        entries[count].type = record->d_type;
        entries[count].inode = record->d_ino;
      }
      count++;
      offset += record->d_reclen;
    }
  }
  return count;
}

static int find(struct entry* entries, int count, const char* name) {
  int found = -1;
  for (int i = 0; i < count; i++)
    if (strcmp(entries[i].name, name) == 0) {
      if (found >= 0) return -2;
      found = i;
    }
  return found;
}

static void test_types(void) {
  char path[4200];
  snprintf(path, sizeof path, "%s/types", directory);
  CHECK_OK(mkdir(path, 0755));
  int dirfd = open(path, O_RDONLY | O_DIRECTORY);
  close(openat(dirfd, "regular", O_WRONLY | O_CREAT, 0644));
  CHECK_OK(mkdirat(dirfd, "subdir", 0755));
  CHECK_OK(symlinkat("regular", dirfd, "symlink"));
  CHECK_OK(mkfifoat(dirfd, "fifo", 0644));

  CASE("listing contains . .. and every entry once with its type");
  struct entry entries[16];
  int count = list_entries(dirfd, 4096, entries, 16);
  CHECK_EQ(count, 6);
  const char* names[] = {".", "..", "regular", "subdir", "symlink", "fifo"};
  unsigned char types[] = {DT_DIR, DT_DIR, DT_REG, DT_DIR, DT_LNK, DT_FIFO};
  for (int i = 0; i < 6; i++) {
    int index = find(entries, count, names[i]);
    CHECK(index >= 0);
    if (index >= 0) CHECK_EQ(entries[index].type, types[i]);
  }

  CASE("d_ino matches st_ino");
  struct stat info;
  int index = find(entries, count, "regular");
  CHECK_OK(fstatat(dirfd, "regular", &info, AT_SYMLINK_NOFOLLOW));
  if (index >= 0) CHECK_EQ(entries[index].inode, info.st_ino);
  index = find(entries, count, ".");
  CHECK_OK(fstat(dirfd, &info));
  if (index >= 0) CHECK_EQ(entries[index].inode, info.st_ino);

  CASE("end of directory returns 0 again");
  char buffer[1024];
  CHECK_EQ(syscall(SYS_getdents64, dirfd, buffer, sizeof buffer), 0);

  CASE("lseek to 0 rewinds the listing");
  CHECK_EQ(lseek(dirfd, 0, SEEK_SET), 0);
  CHECK_EQ(list_entries(dirfd, sizeof buffer, entries, 16), 6);
  close(dirfd);
}

static void test_many_and_small_buffer(void) {
  char path[4200];
  snprintf(path, sizeof path, "%s/many", directory);
  CHECK_OK(mkdir(path, 0755));
  int dirfd = open(path, O_RDONLY | O_DIRECTORY);
  enum { files = 300 };
  for (int i = 0; i < files; i++) {
    char name[32];
    snprintf(name, sizeof name, "file-%03d", i);
    close(openat(dirfd, name, O_WRONLY | O_CREAT, 0644));
  }

  CASE("buffer that fits one entry still lists everything exactly once");
  static struct entry entries[files + 10];
  int count = list_entries(dirfd, 40, entries, files + 10);
  CHECK_EQ(count, files + 2);
  int missing = 0;
  for (int i = 0; i < files; i++) {
    char name[32];
    snprintf(name, sizeof name, "file-%03d", i);
    if (find(entries, count, name) < 0) missing++;
  }
  CHECK_EQ(missing, 0);

  CASE("buffer too small for any entry fails with EINVAL");
  CHECK_EQ(lseek(dirfd, 0, SEEK_SET), 0);
  char tiny[8];
  CHECK_ERR(syscall(SYS_getdents64, dirfd, tiny, sizeof tiny), EINVAL);

  CASE("readdir sees the same entries");
  CHECK_EQ(lseek(dirfd, 0, SEEK_SET), 0);
  DIR* stream = fdopendir(dup(dirfd));
  int seen = 0;
  struct dirent* entry;
  while ((entry = readdir(stream)) != NULL) seen++;
  CHECK_EQ(seen, files + 2);
  closedir(stream);

  CASE("removed entry disappears from a fresh listing");
  CHECK_OK(unlinkat(dirfd, "file-000", 0));
  CHECK_EQ(lseek(dirfd, 0, SEEK_SET), 0);
  count = list_entries(dirfd, 4096, entries, files + 10);
  CHECK_EQ(count, files + 1);
  CHECK_EQ(find(entries, count, "file-000"), -1);
  close(dirfd);
}

static void test_old_getdents(void) {
  CASE("legacy getdents stores d_type in the last byte of the record");
  char path[4200];
  snprintf(path, sizeof path, "%s/legacy", directory);
  CHECK_OK(mkdir(path, 0755));
  int dirfd = open(path, O_RDONLY | O_DIRECTORY);
  CHECK_OK(mkdirat(dirfd, "child", 0755));
  char buffer[4096];
  long n = syscall(SYS_getdents, dirfd, buffer, sizeof buffer);
  CHECK(n > 0);
  int found = 0;
  for (long offset = 0; offset < n;) {
    struct linux_dirent* record = (struct linux_dirent*)(buffer + offset);
    if (strcmp(record->d_name, "child") == 0) {
      found = 1;
      CHECK_EQ(buffer[offset + record->d_reclen - 1], DT_DIR);
    }
    offset += record->d_reclen;
  }
  CHECK_EQ(found, 1);
  close(dirfd);
}

static void test_errors(void) {
  char buffer[1024];

  CASE("regular file fails with ENOTDIR");
  char path[4200];
  snprintf(path, sizeof path, "%s/plain", directory);
  int fd = open(path, O_RDONLY | O_CREAT, 0644);
  CHECK_ERR(syscall(SYS_getdents64, fd, buffer, sizeof buffer), ENOTDIR);
  close(fd);

  CASE("closed descriptor fails with EBADF");
  CHECK_ERR(syscall(SYS_getdents64, 12345, buffer, sizeof buffer), EBADF);

  CASE("bad buffer fails with EFAULT");
  fd = open(directory, O_RDONLY | O_DIRECTORY);
  CHECK_ERR(syscall(SYS_getdents64, fd, (void*)8, sizeof buffer), EFAULT);
  close(fd);

  CASE("O_PATH directory descriptor fails with EBADF");
  fd = open(directory, O_PATH | O_DIRECTORY);
  CHECK_ERR(syscall(SYS_getdents64, fd, buffer, sizeof buffer), EBADF);
  close(fd);
}

int main(void) {
  directory = check_make_temp_dir();
  test_types();
  test_many_and_small_buffer();
  test_old_getdents();
  test_errors();
  check_remove_tree(directory);
  return check_finish();
}
