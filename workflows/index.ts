export { ApplyWorkflow } from './apply';
export { DeletionWorkflow } from './deletion';
