/** The :channelId route parameter, validated like POST /v1/train's. */
import { PickType } from '@nestjs/swagger';
import { TrainRequestDto } from '../jobs/dto/train-request.dto';

/** The `:channelId` of the channel routes, checked exactly like the channelId of POST /v1/train. */
export class ChannelIdParam extends PickType(TrainRequestDto, ['channelId'] as const) {}
