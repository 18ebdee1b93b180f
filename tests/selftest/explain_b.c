/* btfids explain's "vmlinux", second unit: another struct dup (so two STRUCT dup). */
struct dup { long second; char more; };

__attribute__((noinline, used)) long use_b(struct dup *d) { return d->second + d->more; }
