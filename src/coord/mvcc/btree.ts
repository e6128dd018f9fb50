// sorted-btree is CommonJS with `exports.default`; under Node's ESM loader a default import is the
// whole `module.exports`, while bundling test runners may already unwrap it. Accept both.
import btreeModule from 'sorted-btree';

type BTreeCtor = typeof btreeModule.default;
const loaded = btreeModule as unknown as BTreeCtor | { default: BTreeCtor };

export const BTree: BTreeCtor = typeof loaded === 'function' ? loaded : loaded.default;
export type BTree<K, V> = InstanceType<typeof btreeModule.default<K, V>>;
