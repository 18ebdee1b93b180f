/* btfids explain's "vmlinux", first unit: one BTF_ID symbol per cause (the .BTF_ids
 * lists and sets), resolved against this object's own BTF (pahole -J of both units). */
#include "btf_ids.h"

struct present { int a; };
struct dup { int first; };              /* explain_b.c has another struct dup */
struct not_a_func { int x; };

__attribute__((noinline, used)) int present_func(struct present *p) { return p->a; }
__attribute__((noinline, used)) int use_a(struct dup *d, struct not_a_func *n)
{ return d->first + n->x; }

/* a function with a symbol and no DWARF, so no BTF: written in asm */
asm(".text\n.globl asm_only\n.type asm_only, @function\nasm_only:\n\tret\n"
    ".size asm_only, . - asm_only\n");

BTF_SET_START(explain_set)
BTF_ID(func, present_func)
BTF_ID(func, compiled_out)      /* not-in-symtab */
BTF_ID(func, asm_only)          /* not-in-btf */
BTF_ID(func, not_a_func)        /* wrong-kind: a STRUCT */
BTF_ID(struct, dup)             /* ambiguous: two STRUCTs */
BTF_SET_END(explain_set)

BTF_ID_LIST(explain_list)
BTF_ID(func, compiled_out)
BTF_ID(typedef, no_such_type)   /* not-in-btf (a type) */
BTF_ID(struct, no_such_struct)  /* not-in-btf; keeps the struct lookup going, so upstream
                                 * warns about dup (multiple IDs) */
