/** 房屋: find a household by its room and open its room page (/rooms/:unitId). */
import { defineScreen } from "../../screen";

const zhCN = {
  title: "房屋",
  community: "小区",
  room: "房号",
  roomPlaceholder: "房号或楼栋/单元/房号,回车查询",
  find: "查询",
  results: "查询结果",
  none: "未找到房号 {room}",
  unitKey: "房屋",
  status: "状态",
  statuses: { occupied: "已入住", vacant: "空置", unsold: "未售" },
  area: "建筑面积(㎡)",
  open: "打开 {room} 的房屋页",
};

const en: typeof zhCN = {
  title: "Rooms",
  community: "Community",
  room: "Room",
  roomPlaceholder: "Room, or building/entrance/room, then Enter",
  find: "Find",
  results: "Results",
  none: "No room {room}",
  unitKey: "Unit",
  status: "Status",
  statuses: { occupied: "Occupied", vacant: "Vacant", unsold: "Unsold" },
  area: "Floor area (m²)",
  open: "Open the room page of {room}",
};

export default defineScreen({
  name: "roomsearch",
  path: "/rooms",
  order: 20,
  needs: ["billing.listUnits", "billing.getUnit", "billing.getStatement", "dunning.listCases"],
  component: () => import("./RoomSearchView.vue"),
  messages: { "zh-CN": zhCN, en },
});
