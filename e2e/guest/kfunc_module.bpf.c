// SPDX-License-Identifier: GPL-2.0
/* A BPF_PROG_TYPE_SYSCALL program calling the external test module's kfunc.
 *
 * The module btfids_e2e registers bpf_btfids_e2e_answer(x) = x * 3 + 7 for
 * BPF_PROG_TYPE_SYSCALL; libbpf finds it in /sys/kernel/btf/btfids_e2e and passes
 * that BTF to the verifier. Returns bpf_btfids_e2e_answer(5) == 22. With the module's
 * kfunc set unresolved (zero IDs) the verifier must reject the call.
 */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

extern __u64 bpf_btfids_e2e_answer(__u64 x) __ksym;

SEC("syscall")
int kfunc_module(void *ctx)
{
	return (int)bpf_btfids_e2e_answer(5);
}

char LICENSE[] SEC("license") = "GPL";
