import { IsNotEmpty, IsString, MaxLength } from 'class-validator';
import { NoControlCharacters } from '../common/validation';

/** The `:channelId` of the channel routes, checked like the channelId of POST /v1/train. */
export class ChannelIdParam {
  @NoControlCharacters()
  @MaxLength(256)
  @IsNotEmpty()
  @IsString()
  channelId!: string;
}
