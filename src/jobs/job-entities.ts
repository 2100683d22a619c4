/** The tables of jobs/: registered by JobsModule (the database module loads every module's entities). */
import { ChannelModel } from './channel-model.entity';
import { JobReport } from './job-report.entity';
import { TrainedModel } from './trained-model.entity';
import { TrainingJob } from './training-job.entity';

export const JOB_ENTITIES = [TrainingJob, TrainedModel, JobReport, ChannelModel];
