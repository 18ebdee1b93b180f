// SPDX-License-Identifier: GPL-2.0
/* A BPF_PROG_TYPE_SYSCALL program calling vmlinux kfuncs (btfids e2e guest check).
 *
 * In 6.12 kernel/bpf/helpers.c registers bpf_task_from_pid/bpf_task_release for
 * BPF_PROG_TYPE_SYSCALL (generic_kfunc_set) and bpf_rcu_read_lock/unlock for every
 * program type (common_kfunc_set). The kernel accepts these calls only if the IDs in
 * vmlinux's .BTF_ids sets (written by the resolve_btfids tool) name the right BTF
 * types. Returns the pid of the task that bpf_task_from_pid(1) found (1), read
 * through a CO-RE relocation against the running kernel's BTF.
 *
 * No vmlinux.h: the few kernel types are declared here, so the object does not
 * depend on the BTF of the kernel under test at compile time.
 */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

struct task_struct {
	int pid;
} __attribute__((preserve_access_index));

extern struct task_struct *bpf_task_from_pid(int pid) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

SEC("syscall")
int kfunc_vmlinux(void *ctx)
{
	struct task_struct *task;
	int pid;

	bpf_rcu_read_lock();
	task = bpf_task_from_pid(1);
	bpf_rcu_read_unlock();
	if (!task)
		return -1;
	pid = task->pid;
	bpf_task_release(task);
	return pid;
}

char LICENSE[] SEC("license") = "GPL";
