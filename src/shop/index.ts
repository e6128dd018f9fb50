// The reference shop: an application built on Shoal. It imports Shoal only through src/index.ts.
import type { ServiceDefinition } from '../index.js';
import { createGoodsService, type GoodsServiceOptions } from './goods/index.js';
import { createOrdersService, type OrdersServiceOptions } from './orders/index.js';
import { createUsersService, type UsersServiceOptions } from './users/index.js';

export * as users from './users/index.js';
export * as goods from './goods/index.js';
export * as orders from './orders/index.js';
export { createUsersService, createGoodsService, createOrdersService };

export interface ShopServicesOptions {
  users?: UsersServiceOptions;
  goods?: GoodsServiceOptions;
  orders?: OrdersServiceOptions;
}

/** Every shop service, ready for startServices / runFromEnv. */
export function shopServices(options: ShopServicesOptions = {}): ServiceDefinition[] {
  return [createUsersService(options.users), createGoodsService(options.goods), createOrdersService(options.orders)];
}
