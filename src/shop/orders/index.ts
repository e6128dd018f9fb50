// Public surface of the orders service: the service definition, its store, and the zod schemas of
// its params and results (for the gateway's OpenAPI).
export { createOrdersService, ORDERS_SERVICE, ORDERS_VERSION, type OrdersServiceOptions } from './service.js';
export { OrdersStore, ORDER_CONFIRMED, ORDER_FAILED, orderTotal, requestHash, type OrdersStoreOptions, type Outcome } from './store.js';
export { ordersMigrations, type OrdersDatabase } from './migrations.js';
export { ORDER_TXN_KIND, sagaSpec, twoPcSpec } from './specs.js';
export { OrderRecovery, type OrderRecoveryOptions, type RecoveryPass } from './recovery.js';
export {
  GetOrderParams,
  IdempotencyKey,
  ListOrdersParams,
  MAX_ITEM_QTY,
  MAX_ORDER_ITEMS,
  MAX_ORDER_TOTAL_CENTS,
  Order,
  OrderFailure,
  OrderItem,
  OrderItemInput,
  OrderMode,
  OrderStatus,
  OrderUser,
  OrderWithUser,
  OrdersPage,
  PlaceOrderParams,
} from './schemas.js';
