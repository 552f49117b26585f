/* make_fake_weights: writes the fake model's weights file, as `kiln
 * compile` writes NAME.kw. With a second argument the header claims that
 * model hash instead (a weights file "of another model").
 *
 *   make_fake_weights fake_model.kw
 *   make_fake_weights other.kw 0x1234
 */
#include <stdio.h>
#include <stdlib.h>

#include "fake_model.h"

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: make_fake_weights OUT.kw [MODEL_HASH]\n");
    return 1;
  }
  uint64_t hash = argc == 3 ? strtoull(argv[2], NULL, 0) : kiln_model.model_hash;
  if (fake_model_write_weights(argv[1], hash) != 0) {
    fprintf(stderr, "make_fake_weights: cannot write '%s'\n", argv[1]);
    return 1;
  }
  return 0;
}
