/* Types shared by the selftest's "vmlinux" (btf_data.c) and "module" (mod_data.c). */
#ifndef BTFIDS_TEST_TYPES_H
#define BTFIDS_TEST_TYPES_H

struct S { int a, b, c; };
union U { int a, b, c; };
struct S1 { int a, b, c; };
union U1 { int a, b, c; };
typedef int T;
typedef int S;
typedef int U;
typedef int T1;
typedef int S1;
typedef int U1;

struct root_struct {
	S m_1; T m_2; U m_3; S1 m_4; T1 m_5; U1 m_6;
	struct S m_7; struct S1 m_8; union U m_9; union U1 m_10;
};

/* implicit-argument structs (passes.md §2.3) */
struct bpf_prog_aux { int id; };
struct btf_struct_meta { int size; };

#define KFUNC __attribute__((noinline, used))

#endif
