// Public surface of the goods service: the service definition, its store, and the zod schemas
// of its params and results (for the gateway's OpenAPI).
export { createGoodsService, GOODS_SERVICE, GOODS_VERSION, type GoodsServiceOptions } from './service.js';
export { GoodsStore, type GoodsStoreOptions } from './store.js';
export { goodsMigrations, type GoodsDatabase, type ReservationState } from './migrations.js';
export { releaseIn, reserveIn } from './stock.js';
export {
  abortReserveIn,
  branchRequestId,
  commitReserveIn,
  prepareReserveIn,
  releaseHeld,
  sagaReleaseIn,
  sagaReserveIn,
} from './branches.js';
export {
  CreateGoodsParams,
  FinishReserveParams,
  DEFAULT_PAGE_SIZE,
  GetGoodsParams,
  Goods,
  GoodsPage,
  ListGoodsParams,
  MAX_PAGE_SIZE,
  MAX_PRICE_CENTS,
  MAX_RESERVE_QTY,
  MAX_STOCK,
  PrepareReserveParams,
  Release,
  ReleaseParams,
  RequestId,
  Reservation,
  ReserveBranchResult,
  ReserveParams,
  SagaReleaseParams,
  SagaReserveParams,
  UpdateGoodsParams,
} from './schemas.js';
