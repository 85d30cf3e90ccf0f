/* System V message queues: msgget, message types and MSG_EXCEPT,
 * MSG_NOERROR and E2BIG, IPC_NOWAIT, blocking senders and receivers,
 * EIDRM, msgctl IPC_STAT, IPC_SET and the info commands. */
#include "check.h"

#include <sys/ipc.h>
#include <sys/msg.h>

struct message {
  long type;
  char text[64];
};

static int send_text(int id, long type, const char* text, int flags) {
  struct message m = {type, ""};
  snprintf(m.text, sizeof m.text, "%s", text);
  return msgsnd(id, &m, strlen(text) + 1, flags);
}

static long receive(int id, long type, int flags, struct message* m) {
  memset(m, 0, sizeof *m);
  return msgrcv(id, m, sizeof m->text, type, flags);
}

static void test_types(void) {
  CASE("messages come back in order, by type");
  int id = CHECK_OK(msgget(IPC_PRIVATE, 0600));
  CHECK_OK(send_text(id, 3, "three", 0));
  CHECK_OK(send_text(id, 1, "one", 0));
  CHECK_OK(send_text(id, 2, "two", 0));
  CHECK_OK(send_text(id, 1, "one again", 0));
  struct message m;
  CHECK_EQ(receive(id, 2, 0, &m), 4);
  CHECK_STR(m.text, "two");
  CHECK_EQ(m.type, 2);

  CASE("a negative type takes the lowest type at most its size");
  CHECK_EQ(receive(id, -5, 0, &m), 4);
  CHECK_STR(m.text, "one");
  CASE("MSG_EXCEPT takes the first of another type");
  CHECK_EQ(receive(id, 1, MSG_EXCEPT, &m), 6);
  CHECK_STR(m.text, "three");
  CASE("type 0 takes the first");
  CHECK_EQ(receive(id, 0, 0, &m), 10);
  CHECK_STR(m.text, "one again");
  CHECK_ERR(receive(id, 0, IPC_NOWAIT, &m), ENOMSG);

  CASE("a message larger than the buffer needs MSG_NOERROR");
  CHECK_OK(send_text(id, 9, "a long message", 0));
  struct message small;
  CHECK_ERR(msgrcv(id, &small, 4, 0, 0), E2BIG);
  CHECK_EQ(msgrcv(id, &small, 4, 0, MSG_NOERROR), 4);
  CHECK(memcmp(small.text, "a lo", 4) == 0);
  CHECK_ERR(receive(id, 0, IPC_NOWAIT, &m), ENOMSG);

  CASE("msgsnd argument errors");
  struct message bad = {0, "x"};
  CHECK_ERR(msgsnd(id, &bad, 2, 0), EINVAL);
  bad.type = 1;
  CHECK_ERR(msgsnd(id, &bad, 100000, 0), EINVAL);
  CHECK_ERR(msgsnd(-1, &bad, 2, 0), EINVAL);
  CHECK_ERR(msgsnd(id, NULL, 2, 0), EFAULT);
  CHECK_OK(msgctl(id, IPC_RMID, NULL));
  CHECK_ERR(msgsnd(id, &bad, 2, 0), EINVAL);
}

static void test_stat_and_set(void) {
  CASE("IPC_STAT counts messages and bytes");
  key_t key = (key_t)(0x6d730000 + getpid());
  int id = CHECK_OK(msgget(key, IPC_CREAT | IPC_EXCL | 0640));
  CHECK_EQ(msgget(key, 0), id);
  CHECK_ERR(msgget(key, IPC_CREAT | IPC_EXCL), EEXIST);
  CHECK_OK(send_text(id, 1, "abc", 0));
  CHECK_OK(send_text(id, 1, "defgh", 0));
  struct msqid_ds ds;
  CHECK_OK(msgctl(id, IPC_STAT, &ds));
  CHECK_EQ(ds.msg_qnum, 2);
  CHECK_EQ(ds.__msg_cbytes, 10);
  CHECK_EQ(ds.msg_lspid, getpid());
  CHECK_EQ(ds.msg_lrpid, 0);
  CHECK_EQ(ds.msg_perm.mode & 0777, 0640);
  CHECK(ds.msg_qbytes > 0);
  CHECK(ds.msg_stime != 0);

  CASE("IPC_SET shrinks the queue; a full queue refuses IPC_NOWAIT sends");
  ds.msg_qbytes = 12;
  CHECK_OK(msgctl(id, IPC_SET, &ds));
  CHECK_OK(msgctl(id, IPC_STAT, &ds));
  CHECK_EQ(ds.msg_qbytes, 12);
  CHECK_ERR(send_text(id, 1, "ijk", IPC_NOWAIT), EAGAIN);

  CASE("a blocked sender goes on when a receiver makes room");
  pid_t child = fork();
  if (child == 0) {
    CHECK_OK(send_text(id, 2, "ijk", 0));
    check_child_done();
  }
  usleep(50000);
  struct message m;
  CHECK_EQ(receive(id, 0, 0, &m), 4);
  CHECK_CHILD_EXIT(child, 0);
  CHECK_OK(msgctl(id, IPC_STAT, &ds));
  CHECK_EQ(ds.msg_qnum, 2);
  CHECK_EQ(ds.msg_lrpid, getpid());

  CASE("IPC_INFO and MSG_INFO");
  struct msginfo info;
  CHECK(msgctl(0, IPC_INFO, (struct msqid_ds*)&info) >= 0);
  CHECK(info.msgmax > 0);
  CHECK(info.msgmnb > 0);
  CHECK(msgctl(0, MSG_INFO, (struct msqid_ds*)&info) >= 0);
  CHECK(info.msgpool >= 1);
  CHECK(info.msgmap >= 2);
  CHECK_OK(msgctl(id, IPC_RMID, NULL));
}

static void test_blocking_receive(void) {
  CASE("a blocked receiver gets a later message of its type");
  int id = CHECK_OK(msgget(IPC_PRIVATE, 0600));
  pid_t child = fork();
  if (child == 0) {
    struct message m;
    CHECK_EQ(receive(id, 5, 0, &m), 5);
    CHECK_STR(m.text, "five");
    check_child_done();
  }
  usleep(30000);
  CHECK_OK(send_text(id, 4, "four", 0));
  CHECK_OK(send_text(id, 5, "five", 0));
  CHECK_CHILD_EXIT(child, 0);

  CASE("removing the queue wakes receivers with EIDRM");
  child = fork();
  if (child == 0) {
    struct message m;
    CHECK_ERR(receive(id, 7, 0, &m), EIDRM);
    check_child_done();
  }
  usleep(30000);
  CHECK_OK(msgctl(id, IPC_RMID, NULL));
  CHECK_CHILD_EXIT(child, 0);
}

static void on_alarm(int sig) { (void)sig; }

static void test_interrupt(void) {
  CASE("a handled signal interrupts msgrcv with EINTR");
  int id = CHECK_OK(msgget(IPC_PRIVATE, 0600));
  struct sigaction sa = {0};
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  ualarm(30000, 0);
  struct message m;
  CHECK_ERR(receive(id, 0, 0, &m), EINTR);

  CASE("permissions follow the caller's credentials");
  CHECK_OK(send_text(id, 1, "x", 0));
  pid_t child = fork();
  if (child == 0) {
    CHECK_OK(setresuid(1000, 1000, 1000));
    CHECK_ERR(receive(id, 0, IPC_NOWAIT, &m), EACCES);
    CHECK_ERR(send_text(id, 1, "y", IPC_NOWAIT), EACCES);
    CHECK_ERR(msgctl(id, IPC_RMID, NULL), EPERM);
    check_child_done();
  }
  CHECK_CHILD_EXIT(child, 0);
  CHECK_OK(msgctl(id, IPC_RMID, NULL));
}

int main(void) {
  test_types();
  test_stat_and_set();
  test_blocking_receive();
  test_interrupt();
  return check_finish();
}
