/* setfsuid(): root that moves its file system uid away from 0 loses the
 * capabilities that bypass file permissions, and gets them back when it
 * returns to 0, as Linux security/commoncap.c does. */
#include "check.h"

#include <fcntl.h>
#include <sys/fsuid.h>
#include <sys/stat.h>

#define OTHER_ID 65534

int main(void) {
  CASE("setup: the test runs as root natively and in moat");
  CHECK_EQ(getuid(), 0);
  char* dir = check_make_temp_dir();
  char path[4200];
  snprintf(path, sizeof path, "%s/root-only", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  CHECK(fd >= 0);
  close(fd);

  CASE("setfsuid away from 0 drops the override of file permissions");
  CHECK_EQ(setfsuid(OTHER_ID), 0);
  CHECK_EQ(setfsuid(-1), OTHER_ID);
  CHECK_ERR(open(path, O_RDONLY), EACCES);

  CASE("setfsuid back to 0 restores it");
  CHECK_EQ(setfsuid(0), OTHER_ID);
  fd = open(path, O_RDONLY);
  CHECK(fd >= 0);
  close(fd);

  unlink(path);
  rmdir(dir);
  return check_finish();
}
