export { ApplyWorkflow } from './apply';
export { DeletionWorkflow } from './deletion';
export { ReconcilerWorkflow } from './reconciler';
export { DeliveryWorkflow } from './deliveries';
export { NetboxWritebackWorkflow } from './netbox-writeback';
