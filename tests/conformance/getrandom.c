/* getrandom(): lengths, flags, variety of output and errors. */
#include "check.h"

#include <sys/random.h>
#include <sys/syscall.h>

int main(void) {
  CASE("small requests are filled completely");
  unsigned char first[32], second[32];
  memset(first, 0, sizeof first);
  CHECK_EQ(getrandom(first, sizeof first, 0), 32);
  CHECK_EQ(getrandom(second, sizeof second, 0), 32);

  CASE("output is not all zero and differs between calls");
  int nonzero = 0;
  for (size_t i = 0; i < sizeof first; i++) nonzero |= first[i];
  CHECK(nonzero != 0);
  CHECK(memcmp(first, second, sizeof first) != 0);

  CASE("256-byte request is filled completely");
  unsigned char block[256];
  CHECK_EQ(getrandom(block, sizeof block, 0), 256);

  CASE("large request returns a positive count no larger than requested");
  static unsigned char large[1 << 20];
  ssize_t got = getrandom(large, sizeof large, 0);
  CHECK(got > 0);
  CHECK(got <= (ssize_t)sizeof large);

  CASE("bytes cover most of the 256 possible values");
  int seen[256] = {0};
  int distinct = 0;
  for (int i = 0; i < 4096; i++) {
    if (!seen[large[i]]) distinct++;
    seen[large[i]] = 1;
  }
  CHECK(distinct > 200);

  CASE("zero length returns 0");
  CHECK_EQ(getrandom(block, 0, 0), 0);

  CASE("GRND_NONBLOCK succeeds once the pool is ready");
  CHECK_EQ(getrandom(block, 16, GRND_NONBLOCK), 16);

  CASE("GRND_RANDOM succeeds");
  CHECK_EQ(getrandom(block, 16, GRND_RANDOM), 16);

  CASE("GRND_INSECURE succeeds");
  CHECK_EQ(getrandom(block, 16, GRND_INSECURE), 16);

  CASE("GRND_INSECURE with GRND_RANDOM fails with EINVAL");
  CHECK_ERR(getrandom(block, 16, GRND_INSECURE | GRND_RANDOM), EINVAL);

  CASE("unknown flags fail with EINVAL");
  CHECK_ERR(getrandom(block, 16, 0x100), EINVAL);

  CASE("bad buffer fails with EFAULT");
  CHECK_ERR(syscall(SYS_getrandom, (void*)8, 16, 0), EFAULT);

  CASE("children get different bytes from their parent");
  int fds[2];
  CHECK_OK(pipe(fds));
  pid_t pid = fork();
  if (pid == 0) {
    unsigned char child_bytes[32];
    getrandom(child_bytes, sizeof child_bytes, 0);
    write(fds[1], child_bytes, sizeof child_bytes);
    _exit(0);
  }
  unsigned char child_bytes[32];
  CHECK_EQ(read(fds[0], child_bytes, sizeof child_bytes), 32);
  CHECK_EQ(getrandom(first, sizeof first, 0), 32);
  CHECK(memcmp(child_bytes, first, sizeof first) != 0);
  CHECK_CHILD_EXIT(pid, 0);
  close(fds[0]);
  close(fds[1]);
  return check_finish();
}
