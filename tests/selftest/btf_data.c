/* The "vmlinux" of the selftest: types and kfunc candidates (edge-cases.md §1.1), plus
 * KF_IMPLICIT_ARGS and arena cases. BTF comes from pahole -J. */
#include "types.h"

KFUNC int func(struct root_struct *root) { return root->m_1; }

/* upstream selftest candidates (parameter names matter) */
KFUNC int kfunc_a(struct root_struct *root) { return root->m_2; }
KFUNC int kfunc_b(struct root_struct *root) { return root->m_3; }
KFUNC struct root_struct *kfunc_c(struct root_struct *a, struct root_struct *b) { return b ? b : a; }
KFUNC int kfunc_d(struct root_struct *a, struct root_struct *b) { return a == b; }
KFUNC int kfunc_e(struct root_struct *a__arena, struct root_struct *b__arena__nullable,
		  struct root_struct *c__arena, struct root_struct *d__arena__nullable,
		  struct root_struct *e__arena) { return a__arena == e__arena; }
KFUNC int kfunc_f(struct root_struct *a, struct root_struct *b__arena, int flags) { return flags; }
KFUNC struct root_struct *kfunc_g(struct root_struct *a__arena,
				  struct root_struct *b__arena__nullable) { return a__arena; }

/* KF_IMPLICIT_ARGS: implicit last param (+ KF_FASTCALL, so a tag is copied to _impl) */
KFUNC int kfunc_impl_tail(struct root_struct *root, int x, struct bpf_prog_aux *aux)
{ return x + aux->id; }
/* implicit param in the middle, const-qualified: it and every later param dropped */
KFUNC int kfunc_impl_mid(int a, const struct btf_struct_meta *meta, int b)
{ return a + b + meta->size; }
/* legacy: the source defines <name>_impl itself */
KFUNC int kfunc_impl_legacy(int a, struct bpf_prog_aux *aux) { return a; }
KFUNC int kfunc_impl_legacy_impl(int a, struct bpf_prog_aux *aux) { return a + aux->id; }
/* a typedef'd pointer is not recognised (TYPEDEF is not skipped) */
typedef struct bpf_prog_aux *aux_ptr_t;
KFUNC int kfunc_impl_typedef(int a, aux_ptr_t aux) { return a; }
/* implicit args and arena on one kfunc: _impl keeps the untagged proto */
KFUNC struct root_struct *kfunc_impl_arena(struct root_struct *p__arena, struct bpf_prog_aux *aux)
{ return p__arena; }

/* arena: KF_ARENA_ARG2 on a one-parameter kfunc is silently ignored */
KFUNC int kfunc_arena_missing(struct root_struct *only) { return only->m_1; }
/* arena: a suffix-named param without arena flags, on a kfunc in two sets */
KFUNC int kfunc_twice(int n, struct root_struct *x__arena) { return n; }
