export { ApplyWorkflow } from './apply';
export { DeletionWorkflow } from './deletion';
export { ReconcilerWorkflow } from './reconciler';
export { DeliveryWorkflow, NetboxWritebackWorkflow } from './deliveries';
